//! H.245 transport addresses (where RTP, RTCP and H.245 itself go), to and
//! from socket addresses.

use std::net::SocketAddr;

use h323_asn1::h245::{H245TransportAddress, UnicastAddress, UnicastAddressIPAddress};
use h323_asn1::rasn::types::OctetString;

/// An H.245 unicast address for `addr` (IPv4; an IPv4-mapped IPv6 address
/// as its IPv4 form).
pub fn h245_transport(addr: SocketAddr) -> H245TransportAddress {
    let ip = match addr.ip() {
        std::net::IpAddr::V4(v4) => v4.octets().to_vec(),
        std::net::IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or([0; 4], |v4| v4.octets())
            .to_vec(),
    };
    H245TransportAddress::unicastAddress(UnicastAddress::iPAddress(UnicastAddressIPAddress::new(
        OctetString::from(ip),
        addr.port(),
    )))
}

/// The socket address an H.245 unicast IPv4 address names.
pub fn h245_socket_addr(t: &H245TransportAddress) -> Option<SocketAddr> {
    match t {
        H245TransportAddress::unicastAddress(UnicastAddress::iPAddress(a)) => {
            let ip: [u8; 4] = a.network.as_ref().try_into().ok()?;
            Some(SocketAddr::from((ip, a.tsap_identifier)))
        }
        _ => None,
    }
}
