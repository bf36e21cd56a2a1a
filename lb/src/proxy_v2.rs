//! The PROXY protocol version 2 header (haproxy.org proxy-protocol.txt,
//! section 2.2): how a backend learns the real client address of a TCP
//! connection (once, at its start) or of a UDP datagram (in front of each).
//! Writing allocates nothing; reading accepts TLVs and skips them.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

pub const SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// The longest header this module writes (IPv6, no TLVs).
pub const MAX_LEN: usize = 16 + 36;

/// The transport the header describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Stream,
    Datagram,
}

/// A parsed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The client; None for a LOCAL header (the proxy speaking for itself)
    /// or an unspecified family.
    pub source: Option<SocketAddr>,
    pub destination: Option<SocketAddr>,
    /// Bytes the header took, TLVs included.
    pub len: usize,
}

/// The outcome of reading the start of a stream or datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// Does not start with the signature.
    NotProxy,
    /// Starts like one but more bytes are needed (streams only).
    Incomplete,
    Header(Header),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("PROXY v2: version {0} unsupported")]
    Version(u8),
    #[error("PROXY v2: command {0} unknown")]
    Command(u8),
    #[error("PROXY v2: address block too short for its family")]
    Short,
}

/// Writes a PROXY header for a flow from `source` to `destination` into
/// `out` (at least [`MAX_LEN`] bytes); returns its length.
pub fn write(out: &mut [u8], source: SocketAddr, destination: SocketAddr, t: Transport) -> usize {
    out[..12].copy_from_slice(&SIGNATURE);
    out[12] = 0x21; // version 2, PROXY
    let proto = match t {
        Transport::Stream => 1,
        Transport::Datagram => 2,
    };
    let (len, family) = match (source.ip(), destination.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            out[16..20].copy_from_slice(&s.octets());
            out[20..24].copy_from_slice(&d.octets());
            out[24..26].copy_from_slice(&source.port().to_be_bytes());
            out[26..28].copy_from_slice(&destination.port().to_be_bytes());
            (12u16, 0x10)
        }
        (s, d) => {
            out[16..32].copy_from_slice(&v6(s).octets());
            out[32..48].copy_from_slice(&v6(d).octets());
            out[48..50].copy_from_slice(&source.port().to_be_bytes());
            out[50..52].copy_from_slice(&destination.port().to_be_bytes());
            (36u16, 0x20)
        }
    };
    out[13] = family | proto;
    out[14..16].copy_from_slice(&len.to_be_bytes());
    16 + usize::from(len)
}

fn v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

/// Reads a header at the start of `bytes`.
pub fn read(bytes: &[u8]) -> Result<Parsed, Error> {
    let prefix = bytes.len().min(12);
    if bytes[..prefix] != SIGNATURE[..prefix] {
        return Ok(Parsed::NotProxy);
    }
    if bytes.len() < 16 {
        return Ok(Parsed::Incomplete);
    }
    let version = bytes[12] >> 4;
    if version != 2 {
        return Err(Error::Version(version));
    }
    let command = bytes[12] & 0x0f;
    let len = 16 + usize::from(u16::from_be_bytes([bytes[14], bytes[15]]));
    if bytes.len() < len {
        return Ok(Parsed::Incomplete);
    }
    let block = &bytes[16..len];
    let (source, destination) = match command {
        0 => (None, None), // LOCAL
        1 => addresses(bytes[13] >> 4, block)?,
        c => return Err(Error::Command(c)),
    };
    Ok(Parsed::Header(Header {
        source,
        destination,
        len,
    }))
}

type Pair = (Option<SocketAddr>, Option<SocketAddr>);

fn addresses(family: u8, block: &[u8]) -> Result<Pair, Error> {
    let port = |at: usize| u16::from_be_bytes([block[at], block[at + 1]]);
    match family {
        1 if block.len() >= 12 => {
            let ip =
                |at: usize| IpAddr::from([block[at], block[at + 1], block[at + 2], block[at + 3]]);
            Ok((
                Some(SocketAddr::new(ip(0), port(8))),
                Some(SocketAddr::new(ip(4), port(10))),
            ))
        }
        2 if block.len() >= 36 => {
            let ip = |at: usize| {
                let mut o = [0u8; 16];
                o.copy_from_slice(&block[at..at + 16]);
                let v6 = Ipv6Addr::from(o);
                v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
            };
            Ok((
                Some(SocketAddr::new(ip(0), port(32))),
                Some(SocketAddr::new(ip(16), port(34))),
            ))
        }
        1 | 2 => Err(Error::Short),
        _ => Ok((None, None)), // UNSPEC or AF_UNIX: no usable address
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_v4_and_v6() {
        let mut buf = [0u8; MAX_LEN];
        for (s, d) in [
            ("192.0.2.1:5060", "10.0.0.1:5060"),
            ("[2001:db8::1]:40000", "[2001:db8::2]:5061"),
        ] {
            let (s, d): (SocketAddr, SocketAddr) = (s.parse().unwrap(), d.parse().unwrap());
            let n = write(&mut buf, s, d, Transport::Datagram);
            let Parsed::Header(h) = read(&buf[..n]).unwrap() else {
                panic!("a header");
            };
            assert_eq!((h.source, h.destination, h.len), (Some(s), Some(d), n));
            assert_eq!(read(&buf[..n - 1]).unwrap(), Parsed::Incomplete);
        }
    }

    #[test]
    fn matches_the_specification_example() {
        // TCP over IPv4, 192.0.2.1:56324 → 198.51.100.1:443, built by hand
        // from the specification's layout.
        let mut wire = SIGNATURE.to_vec();
        wire.extend_from_slice(&[0x21, 0x11, 0x00, 0x0c]);
        wire.extend_from_slice(&[192, 0, 2, 1, 198, 51, 100, 1, 0xdc, 0x04, 0x01, 0xbb]);
        let mut buf = [0u8; MAX_LEN];
        let n = write(
            &mut buf,
            "192.0.2.1:56324".parse().unwrap(),
            "198.51.100.1:443".parse().unwrap(),
            Transport::Stream,
        );
        assert_eq!(&buf[..n], &wire[..]);
    }

    #[test]
    fn skips_tlvs_and_accepts_local() {
        let mut wire = SIGNATURE.to_vec();
        wire.extend_from_slice(&[0x20, 0x00, 0x00, 0x03, 0x04, 0x00, 0x00]);
        wire.extend_from_slice(b"INVITE");
        assert_eq!(
            read(&wire).unwrap(),
            Parsed::Header(Header {
                source: None,
                destination: None,
                len: 19
            })
        );
    }

    #[test]
    fn rejects_what_is_not_v2() {
        assert_eq!(read(b"OPTIONS sip:x SIP/2.0").unwrap(), Parsed::NotProxy);
        assert_eq!(read(b"PROXY TCP4 1.2.3.4").unwrap(), Parsed::NotProxy);
        let mut wire = SIGNATURE.to_vec();
        wire.extend_from_slice(&[0x11, 0x11, 0, 0]);
        assert_eq!(read(&wire), Err(Error::Version(1)));
        let mut wire = SIGNATURE.to_vec();
        wire.extend_from_slice(&[0x21, 0x11, 0, 4, 1, 2, 3, 4]);
        assert_eq!(read(&wire), Err(Error::Short));
    }
}
