//! Reads classic pcap files of Ethernet/IPv4 captures into the UDP
//! datagrams and TCP segment payloads they carry, in capture order.

use std::net::{Ipv4Addr, SocketAddr};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

#[derive(Debug, Clone)]
pub struct Segment {
    pub transport: Transport,
    pub from: SocketAddr,
    pub to: SocketAddr,
    pub payload: Vec<u8>,
}

/// The non-empty UDP and TCP payloads of `path`.
pub fn segments(path: &std::path::Path) -> Vec<Segment> {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        &data[..4],
        [0xd4, 0xc3, 0xb2, 0xa1],
        "little-endian classic pcap"
    );
    assert_eq!(
        u32::from_le_bytes(data[20..24].try_into().unwrap()),
        1,
        "Ethernet"
    );
    let mut at = 24;
    let mut out = Vec::new();
    while at + 16 <= data.len() {
        let len = u32::from_le_bytes(data[at + 8..at + 12].try_into().unwrap()) as usize;
        let frame = &data[at + 16..at + 16 + len];
        at += 16 + len;
        if frame.len() < 34 || frame[12..14] != [0x08, 0x00] {
            continue;
        }
        let ip = &frame[14..];
        let (ihl, total) = (
            usize::from(ip[0] & 0x0f) * 4,
            usize::from(u16::from_be_bytes([ip[2], ip[3]])),
        );
        let addr = |o: usize| Ipv4Addr::new(ip[o], ip[o + 1], ip[o + 2], ip[o + 3]);
        let l4 = &ip[ihl..total];
        let port = |o: usize| u16::from_be_bytes([l4[o], l4[o + 1]]);
        let (transport, payload) = match ip[9] {
            17 => (Transport::Udp, &l4[8..]),
            6 => (Transport::Tcp, &l4[usize::from(l4[12] >> 4) * 4..]),
            _ => continue,
        };
        if payload.is_empty() {
            continue;
        }
        out.push(Segment {
            transport,
            from: SocketAddr::from((addr(12), port(0))),
            to: SocketAddr::from((addr(16), port(2))),
            payload: payload.to_vec(),
        });
    }
    out
}
