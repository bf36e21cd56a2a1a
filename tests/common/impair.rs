//! A network impairment relay between a SIP peer and the gateway, like an
//! rtpproxy with a bad line: the peer sends its INVITE to the relay, which
//! passes SIP on unchanged except that each `m=` port in the SDP (the
//! peer's offer and the gateway's answer) is replaced by one relay socket
//! per stream. RTP through that socket loses packets at random and is
//! delayed by a random amount (so it also arrives reordered); RTCP (port + 1)
//! passes clean, and is kept for the test to read (as a pcap for tshark).
//! In-dialog requests go straight between the parties.

use std::collections::BinaryHeap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::free_ports;

/// How bad the line is, for RTP in both directions.
#[derive(Debug, Clone, Copy)]
pub struct Impairment {
    /// Probability that a packet is dropped.
    pub loss: f64,
    /// Each packet is held back a uniformly random time up to this.
    pub jitter: Duration,
}

/// The running relay; stops its threads on drop.
pub struct Relay {
    /// Where the peer sends its INVITE.
    pub sip: SocketAddr,
    stop: Arc<AtomicBool>,
    /// RTP packets dropped so far (both directions).
    pub dropped: Arc<AtomicU64>,
    rtcp: Recorded,
}

/// Datagrams as they went: from, to (the relay left out), bytes, and
/// whether they went to the peer.
type Recorded = Arc<Mutex<Vec<(SocketAddr, SocketAddr, Vec<u8>, bool)>>>;

impl Relay {
    pub fn start(gateway: SocketAddr, impairment: Impairment) -> Relay {
        let socket = UdpSocket::bind(("127.0.0.1", free_ports(1))).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let sip = socket.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let dropped = Arc::new(AtomicU64::new(0));
        let rtcp = Recorded::default();
        let line = Line {
            impairment,
            stop: stop.clone(),
            dropped: dropped.clone(),
            rtcp: rtcp.clone(),
        };
        std::thread::spawn(move || relay_sip(socket, gateway, line));
        Relay {
            sip,
            stop,
            dropped,
            rtcp,
        }
    }

    /// Writes the RTCP relayed so far one way (`from_gateway`: what the
    /// gateway sent the peer, else what the peer sent it) to `path` as a
    /// pcap, and returns tshark's `-d` options that decode it as RTCP.
    pub fn rtcp_pcap(&self, path: &std::path::Path, from_gateway: bool) -> Vec<String> {
        let packets: Vec<_> = self
            .rtcp
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, _, _, to_peer)| *to_peer == from_gateway)
            .map(|(from, to, bytes, _)| (*from, *to, bytes.clone()))
            .collect();
        super::pcap::write(path, super::pcap::Transport::Udp, &packets);
        let mut ports: Vec<u16> = packets
            .iter()
            .flat_map(|(from, to, _)| [from.port(), to.port()])
            .collect();
        ports.sort_unstable();
        ports.dedup();
        ports
            .iter()
            .map(|p| format!("udp.port=={p},rtcp"))
            .collect()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[derive(Clone)]
struct Line {
    impairment: Impairment,
    stop: Arc<AtomicBool>,
    dropped: Arc<AtomicU64>,
    rtcp: Recorded,
}

/// Passes SIP between the peer and the gateway, rewriting SDP ports.
fn relay_sip(socket: UdpSocket, gateway: SocketAddr, line: Line) {
    let mut peer = None;
    // One media relay per stream of the peer's offer, in m-line order.
    let mut streams: Vec<Stream> = Vec::new();
    let mut buf = [0u8; 65536];
    while !line.stop.load(Ordering::Relaxed) {
        let Ok((n, from)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        let from_gateway = from == gateway;
        if !from_gateway {
            peer = Some(from);
        }
        let rewritten = rewrite_sdp(&text, |index, port| {
            if from_gateway {
                let stream = streams.get(index)?;
                stream.set_gateway_port(port);
                return Some(stream.port);
            }
            if streams.get(index).is_none_or(|s| s.peer_port != port) {
                streams.truncate(index);
                streams.push(Stream::start(port, line.clone()));
            }
            Some(streams[index].port)
        });
        let to = if from_gateway { peer } else { Some(gateway) };
        if let Some(to) = to {
            let _ = socket.send_to(rewritten.as_bytes(), to);
        }
    }
}

/// Replaces the port of the n-th `m=` line by `map(n, port)` (ports other
/// than 0) and fixes Content-Length.
fn rewrite_sdp(message: &str, mut map: impl FnMut(usize, u16) -> Option<u16>) -> String {
    let Some((head, body)) = message.split_once("\r\n\r\n") else {
        return message.to_owned();
    };
    let mut index = 0;
    let body: String = body
        .split_inclusive("\r\n")
        .map(|l| {
            let mut parts = l.splitn(3, ' ');
            let (Some(media), Some(port), Some(rest)) = (parts.next(), parts.next(), parts.next())
            else {
                return l.to_owned();
            };
            let Some(port) = port.parse().ok().filter(|_| media.starts_with("m=")) else {
                return l.to_owned();
            };
            index += 1;
            match map(index - 1, port).filter(|_| port != 0) {
                Some(relay) => format!("{media} {relay} {rest}"),
                None => l.to_owned(),
            }
        })
        .collect();
    let head: Vec<String> = head
        .split("\r\n")
        .map(|h| {
            let name = h.split(':').next().unwrap_or("").trim();
            if name.eq_ignore_ascii_case("content-length") || name == "l" {
                format!("Content-Length: {}", body.len())
            } else {
                h.to_owned()
            }
        })
        .collect();
    format!("{}\r\n\r\n{body}", head.join("\r\n"))
}

/// Relays one media stream: RTP (impaired) on `port`, RTCP on `port + 1`.
struct Stream {
    port: u16,
    peer_port: u16,
    gateway_port: Arc<AtomicU64>,
}

impl Stream {
    fn start(peer_port: u16, line: Line) -> Stream {
        let port = free_ports(2);
        let gateway_port = Arc::new(AtomicU64::new(0));
        for (offset, impaired) in [(0, true), (1, false)] {
            let socket = UdpSocket::bind(("127.0.0.1", port + offset)).unwrap();
            socket
                .set_read_timeout(Some(Duration::from_millis(50)))
                .unwrap();
            let ends = Ends {
                peer: ([127, 0, 0, 1], peer_port + offset).into(),
                gateway_port: gateway_port.clone(),
                offset,
            };
            let line = line.clone();
            std::thread::spawn(move || forward(socket, ends, line, impaired));
        }
        Stream {
            port,
            peer_port,
            gateway_port,
        }
    }

    fn set_gateway_port(&self, port: u16) {
        self.gateway_port.store(u64::from(port), Ordering::Relaxed);
    }
}

/// Where a stream's packets go: to the peer when they come from elsewhere,
/// to the gateway's port from the answer when they come from the peer.
struct Ends {
    peer: SocketAddr,
    gateway_port: Arc<AtomicU64>,
    offset: u16,
}

impl Ends {
    fn other(&self, from: SocketAddr) -> Option<SocketAddr> {
        if from != self.peer {
            return Some(self.peer);
        }
        let port = self.gateway_port.load(Ordering::Relaxed) as u16;
        (port != 0).then(|| ([127, 0, 0, 1], port + self.offset).into())
    }
}

/// A packet held back until `due`.
struct Held {
    due: Instant,
    to: SocketAddr,
    bytes: Vec<u8>,
}

impl PartialEq for Held {
    fn eq(&self, other: &Self) -> bool {
        self.due == other.due
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Held {
    /// Earliest first in a max-heap.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.due.cmp(&self.due)
    }
}

fn forward(socket: UdpSocket, ends: Ends, line: Line, impaired: bool) {
    let (delay_tx, delay_rx) = mpsc::channel::<Held>();
    let sender = socket.try_clone().unwrap();
    std::thread::spawn(move || release_when_due(sender, delay_rx));
    let mut random = Random(0x9e37_79b9_7f4a_7c15 ^ u64::from(ends.peer.port()));
    let mut buf = [0u8; 2048];
    while !line.stop.load(Ordering::Relaxed) {
        let Ok((n, from)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let Some(to) = ends.other(from) else { continue };
        if !impaired {
            let _ = socket.send_to(&buf[..n], to);
            let kept = (from, to, buf[..n].to_vec(), to == ends.peer);
            line.rtcp.lock().unwrap().push(kept);
            continue;
        }
        if random.unit() < line.impairment.loss {
            line.dropped.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let hold = line.impairment.jitter.mul_f64(random.unit());
        let _ = delay_tx.send(Held {
            due: Instant::now() + hold,
            to,
            bytes: buf[..n].to_vec(),
        });
    }
}

/// Sends held packets in order of their due time.
fn release_when_due(socket: UdpSocket, incoming: mpsc::Receiver<Held>) {
    let mut held = BinaryHeap::new();
    loop {
        let wait = held
            .peek()
            .map(|h: &Held| h.due.saturating_duration_since(Instant::now()))
            .unwrap_or(Duration::from_secs(3600));
        match incoming.recv_timeout(wait) {
            Ok(packet) => held.push(packet),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        while held.peek().is_some_and(|h| h.due <= Instant::now()) {
            let h = held.pop().unwrap();
            let _ = socket.send_to(&h.bytes, h.to);
        }
    }
}

/// xorshift64*: reproducible randomness without a dependency.
struct Random(u64);

impl Random {
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}
