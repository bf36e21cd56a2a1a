//! The H.225.0 value types every H.323 message carries, to and from ours:
//! transport addresses, aliases, BMP strings, the protocol identifier and
//! our vendor identity.

use std::net::{IpAddr, SocketAddr};

use h323_asn1::h225::{
    AliasAddress, EndpointType, H221NonStandard, ProtocolIdentifier, TransportAddress,
    TransportAddressIp6Address, TransportAddressIpAddress, VendorIdentifier,
};
use h323_asn1::rasn::types::{BmpString, Ia5String, ObjectIdentifier, OctetString};

/// H.225.0 version 7: { itu-t(0) recommendation(0) h(8) 2250 version(0) 7 }.
pub fn protocol_identifier() -> ProtocolIdentifier {
    ProtocolIdentifier(ObjectIdentifier::new_unchecked(
        vec![0, 0, 8, 2250, 0, 7].into(),
    ))
}

pub fn transport(addr: SocketAddr) -> TransportAddress {
    match addr.ip() {
        IpAddr::V4(ip) => TransportAddress::ipAddress(TransportAddressIpAddress::new(
            OctetString::from(ip.octets().to_vec()),
            addr.port(),
        )),
        IpAddr::V6(ip) => TransportAddress::ip6Address(TransportAddressIp6Address::new(
            OctetString::from(ip.octets().to_vec()),
            addr.port(),
        )),
    }
}

pub fn socket_addr(t: &TransportAddress) -> Option<SocketAddr> {
    match t {
        TransportAddress::ipAddress(a) => {
            let ip: [u8; 4] = a.ip.as_ref().try_into().ok()?;
            Some(SocketAddr::from((ip, a.port)))
        }
        TransportAddress::ip6Address(a) => {
            let ip: [u8; 16] = a.ip.as_ref().try_into().ok()?;
            Some(SocketAddr::from((ip, a.port)))
        }
        _ => None,
    }
}

/// The first usable address of a list.
pub fn first_socket_addr(list: &[TransportAddress]) -> Option<SocketAddr> {
    list.iter().find_map(socket_addr)
}

pub fn bmp(text: &str) -> BmpString {
    let utf16be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
    BmpString::try_from(utf16be).unwrap_or_default()
}

pub fn text(s: &BmpString) -> String {
    String::from_utf16_lossy(s)
}

/// An alias as text: digits, the h323-ID, or a URL without its scheme.
pub fn alias_text(a: &AliasAddress) -> Option<String> {
    match a {
        AliasAddress::dialledDigits(d) => Some(d.to_string()),
        AliasAddress::h323_ID(id) => Some(text(id)),
        AliasAddress::url_ID(u) => {
            let u = u.to_string();
            let u = u.split_once(':').map_or(u.as_str(), |(_, rest)| rest);
            Some(u.to_owned())
        }
        AliasAddress::email_ID(e) => Some(e.to_string()),
        _ => None,
    }
}

pub fn h323_id(name: &str) -> AliasAddress {
    AliasAddress::h323_ID(bmp(name))
}

/// A dialedDigits alias, when `digits` fits its alphabet (0-9 # * ,).
pub fn dialled_digits(digits: &str) -> Option<AliasAddress> {
    let valid = !digits.is_empty()
        && digits.len() <= 128
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || b"#*,".contains(&b));
    valid.then(|| AliasAddress::dialledDigits(Ia5String::try_from(digits).expect("digits are IA5")))
}

/// Who we are, in every message that names a vendor.
pub fn vendor() -> VendorIdentifier {
    VendorIdentifier::new(
        // T.35 country "international" (0xff), extension 0, manufacturer 0.
        H221NonStandard::new(255, 0, 0),
        Some(OctetString::from_static(b"MRA")),
        Some(OctetString::from(
            env!("CARGO_PKG_VERSION").as_bytes().to_vec(),
        )),
        None,
    )
}

/// The vendor as text: "product version".
pub fn vendor_text(v: &VendorIdentifier) -> Option<String> {
    let field = |f: &Option<OctetString>| {
        f.as_ref()
            .map(|b| String::from_utf8_lossy(b).trim_end_matches('\0').to_owned())
    };
    let parts: Vec<String> = [field(&v.product_id), field(&v.version_id)]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// Our endpoint type: a gatekeeper with an MCU behind it.
pub fn endpoint_type() -> EndpointType {
    EndpointType::required(true, false)
        .with_vendor(vendor())
        .with_gatekeeper(h323_asn1::h225::GatekeeperInfo::new(None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_aliases_convert_both_ways() {
        for addr in ["192.0.2.5:1720", "[2001:db8::5]:1719"] {
            let addr: SocketAddr = addr.parse().unwrap();
            assert_eq!(socket_addr(&transport(addr)), Some(addr));
        }
        assert_eq!(
            alias_text(&h323_id("Board room ü")).as_deref(),
            Some("Board room ü")
        );
        assert_eq!(
            alias_text(&dialled_digits("123456789#4321").unwrap()).as_deref(),
            Some("123456789#4321")
        );
        assert!(dialled_digits("12a").is_none());
        let id = h323_asn1::encode(&protocol_identifier()).unwrap();
        assert_eq!(
            h323_asn1::decode::<ProtocolIdentifier>(&id).unwrap(),
            protocol_identifier()
        );
    }
}
