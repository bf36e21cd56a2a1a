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

/// One TCP direction: (from, to).
pub type Direction = (SocketAddr, SocketAddr);

/// The TPKT packets of one TCP direction.
pub type TpktStream = (Direction, Vec<Vec<u8>>);

/// The TPKT packets (H.225.0 call signalling, H.245) of each TCP
/// direction of `path`, directions in the order their first segment came.
pub fn tpkt_streams(path: &std::path::Path) -> Vec<TpktStream> {
    use signaling::h323::tpkt::TpktReader;
    let mut readers: std::collections::HashMap<Direction, (usize, TpktReader, Vec<Vec<u8>>)> =
        Default::default();
    for (i, s) in segments(path).into_iter().enumerate() {
        assert_eq!(s.transport, Transport::Tcp);
        let (_, reader, packets) = readers
            .entry((s.from, s.to))
            .or_insert_with(|| (i, TpktReader::default(), Vec::new()));
        reader.push(&s.payload);
        while let Some(p) = reader.next_packet().expect("TPKT") {
            packets.push(p);
        }
    }
    let mut out: Vec<_> = readers
        .into_iter()
        .map(|(k, (i, _, p))| (i, k, p))
        .collect();
    out.sort_by_key(|(i, _, _)| *i);
    out.into_iter().map(|(_, k, p)| (k, p)).collect()
}

/// Writes `packets` (from, to, payload) as an Ethernet/IPv4 pcap of UDP
/// datagrams or TCP segments (one segment per payload, sequence numbers
/// running per direction), for tshark to judge.
pub fn write(
    path: &std::path::Path,
    transport: Transport,
    packets: &[(SocketAddr, SocketAddr, Vec<u8>)],
) {
    let mut out = Vec::new();
    out.extend_from_slice(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0]);
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    let mut next_seq: std::collections::HashMap<(SocketAddr, SocketAddr), u32> =
        std::collections::HashMap::new();
    for (i, (from, to, payload)) in packets.iter().enumerate() {
        let ip = |a: &SocketAddr| match a.ip() {
            std::net::IpAddr::V4(v4) => v4.octets(),
            std::net::IpAddr::V6(_) => [127, 0, 0, 1],
        };
        let mut l4 = Vec::new();
        l4.extend_from_slice(&from.port().to_be_bytes());
        l4.extend_from_slice(&to.port().to_be_bytes());
        let protocol = match transport {
            Transport::Udp => {
                l4.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
                l4.extend_from_slice(&[0, 0]); // no checksum (allowed on IPv4)
                17
            }
            Transport::Tcp => {
                let ack = *next_seq.get(&(*to, *from)).unwrap_or(&1);
                let seq = next_seq.entry((*from, *to)).or_insert(1);
                l4.extend_from_slice(&seq.to_be_bytes());
                l4.extend_from_slice(&ack.to_be_bytes());
                *seq += payload.len() as u32;
                l4.extend_from_slice(&[0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
                6
            }
        };
        l4.extend_from_slice(payload);
        let mut header = vec![0x45, 0];
        header.extend_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
        header.extend_from_slice(&(i as u16).to_be_bytes());
        header.extend_from_slice(&[0, 0, 64, protocol, 0, 0]);
        header.extend_from_slice(&ip(from));
        header.extend_from_slice(&ip(to));
        let sum = !ones_complement_sum(&header);
        header[10..12].copy_from_slice(&sum.to_be_bytes());
        let mut frame = vec![0u8; 12];
        frame.extend_from_slice(&[0x08, 0x00]);
        frame.extend_from_slice(&header);
        frame.extend_from_slice(&l4);
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&(i as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&frame);
    }
    std::fs::write(path, out).unwrap();
}

fn ones_complement_sum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// What tshark flags in `path` as malformed or as an H.225/H.245 warning
/// (empty when every packet is clean).
pub fn tshark_complaints(path: &std::path::Path, decode_as: &[&str]) -> String {
    let mut cmd = std::process::Command::new("tshark");
    cmd.arg("-r").arg(path);
    for d in decode_as {
        cmd.args(["-d", d]);
    }
    let out = cmd
        .args([
            "-Y",
            "_ws.malformed || ((h225 || h245) && _ws.expert.severity >= \"warning\")",
        ])
        .output()
        .expect("tshark (package tshark)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// tshark's one-line summaries of `path`, or with `fields` the values it
/// decoded for those fields (one line per packet, tab-separated).
pub fn tshark_read(path: &std::path::Path, decode_as: &[&str], fields: &[&str]) -> String {
    let mut cmd = std::process::Command::new("tshark");
    cmd.arg("-r").arg(path);
    for d in decode_as {
        cmd.args(["-d", d]);
    }
    if !fields.is_empty() {
        cmd.args(["-T", "fields"]);
        for f in fields {
            cmd.args(["-e", f]);
        }
    }
    String::from_utf8_lossy(&cmd.output().expect("tshark").stdout).into_owned()
}
