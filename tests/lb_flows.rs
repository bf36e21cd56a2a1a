//! The load balancer's UDP flow handling end to end, with plain UDP
//! backends that answer every datagram with the port it reached: a reload
//! that removes a backend keeps the flows it carries, a media port range
//! sends each port to the node owning it (and answers from that port), and
//! floods meet the per-source new-flow limit and the flow-table bound.
//! Asserted is what the clients received and the LB's own status.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::lb::Lb;
use common::{free_port, free_ports, isolate_network};

/// UDP sockets on consecutive ports that answer "<own port>" to anything.
struct Backends {
    first: u16,
    stop: Arc<AtomicBool>,
}

impl Backends {
    fn start(count: u16) -> Backends {
        let first = free_ports(count);
        let stop = Arc::new(AtomicBool::new(false));
        for port in first..first + count {
            let sock = UdpSocket::bind(("127.0.0.1", port)).unwrap();
            sock.set_read_timeout(Some(Duration::from_millis(50)))
                .unwrap();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 1500];
                while !stop.load(Ordering::Relaxed) {
                    if let Ok((_, from)) = sock.recv_from(&mut buf) {
                        let _ = sock.send_to(port.to_string().as_bytes(), from);
                    }
                }
            });
        }
        Backends { first, stop }
    }

    fn addr(&self) -> SocketAddr {
        ([127, 0, 0, 1], self.first).into()
    }
}

impl Drop for Backends {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A client socket of its own (a flow of its own through the LB).
fn client() -> UdpSocket {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    sock
}

/// Sends to `to` and returns the answering backend port and where the
/// answer came from, or None if nothing came back in time.
fn ask(sock: &UdpSocket, to: SocketAddr) -> Option<(u16, SocketAddr)> {
    sock.send_to(b"ping", to).unwrap();
    let mut buf = [0u8; 64];
    let (n, from) = sock.recv_from(&mut buf).ok()?;
    let port = std::str::from_utf8(&buf[..n]).ok()?.parse().ok()?;
    Some((port, from))
}

fn answered_by(sock: &UdpSocket, to: SocketAddr) -> u16 {
    let (port, from) = ask(sock, to).unwrap_or_else(|| panic!("no answer through {to}"));
    assert_eq!(
        from, to,
        "the answer comes from the address the client used"
    );
    port
}

fn udp_listener(name: &str, port: u16, backends: &[&Backends], extra: &str) -> String {
    let list: Vec<String> = backends
        .iter()
        .map(|b| format!("\"{}\"", b.addr()))
        .collect();
    format!(
        "[[lb.listener]]\nname = \"{name}\"\nprotocol = \"udp\"\nbind = \"127.0.0.1:{port}\"\n\
         scheduler = \"wrr\"\nbackends = [{}]\n{extra}\n",
        list.join(", ")
    )
}

fn drops(lb: &Lb, listener: &str, reason: &str) -> u64 {
    let status = lb.status();
    let l = status["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == listener)
        .unwrap_or_else(|| panic!("no listener {listener}: {status}"));
    l["drops"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d[0] == reason)
        .and_then(|d| d[1].as_u64())
        .unwrap_or_else(|| panic!("no {reason} drops in {l}"))
}

#[test]
fn reload_keeps_the_flows_of_a_removed_backend_and_sends_new_ones_elsewhere() {
    isolate_network();
    let (a, b) = (Backends::start(1), Backends::start(1));
    let port = free_port();
    let vip: SocketAddr = ([127, 0, 0, 1], port).into();
    let lb = Lb::start(&udp_listener("media", port, &[&a, &b], ""));
    let clients: Vec<UdpSocket> = (0..4).map(|_| client()).collect();
    let first: Vec<u16> = clients.iter().map(|c| answered_by(c, vip)).collect();
    let on_b = first.iter().filter(|&&p| p == b.first).count();
    assert_eq!(on_b, 2, "wrr alternates: {first:?}");

    // B leaves the configuration, a second listener joins it.
    let second = free_port();
    let (code, body) = lb.reload(&format!(
        "{}{}",
        udp_listener("media", port, &[&a], ""),
        udp_listener("second", second, &[&b], "")
    ));
    assert_eq!(code, 200, "{body}");
    let again: Vec<u16> = clients.iter().map(|c| answered_by(c, vip)).collect();
    assert_eq!(again, first, "existing flows stay where they were");
    let removed = lb.backend("media", b.addr());
    assert_eq!(
        (
            removed["removed"].as_bool(),
            removed["flows_active"].as_u64()
        ),
        (Some(true), Some(2)),
        "{removed}"
    );
    for _ in 0..4 {
        assert_eq!(answered_by(&client(), vip), a.first, "new flows avoid B");
    }
    let second: SocketAddr = ([127, 0, 0, 1], second).into();
    assert_eq!(
        answered_by(&client(), second),
        b.first,
        "the added listener"
    );
}

#[test]
fn a_port_range_sends_each_port_to_the_node_that_owns_it() {
    isolate_network();
    // Two media nodes with three ports each behind six LB ports.
    let (a, b) = (Backends::start(3), Backends::start(3));
    let first = free_ports(6);
    let lb = Lb::start(&format!(
        "[[lb.listener]]\nname = \"rtp\"\nprotocol = \"udp\"\nbind = \"127.0.0.1:{first}-{}\"\n\
         backends = [\"{}\", \"{}\"]\n",
        first + 5,
        a.addr(),
        b.addr()
    ));
    let rooms = [client(), client()];
    for offset in 0..6u16 {
        let vip: SocketAddr = ([127, 0, 0, 1], first + offset).into();
        let owner = if offset < 3 {
            a.first + offset
        } else {
            b.first + offset - 3
        };
        for room in &rooms {
            assert_eq!(answered_by(room, vip), owner, "LB port {}", first + offset);
        }
    }
    assert_eq!(lb.backend("rtp", a.addr())["flows_total"], 6);
}

#[test]
fn floods_meet_the_new_flow_limit_and_the_flow_table_bound() {
    isolate_network();
    let a = Backends::start(1);
    let (limited, bounded) = (free_port(), free_port());
    let lb = Lb::start(&format!(
        "{}{}",
        udp_listener(
            "limited",
            limited,
            &[&a],
            "new_flows_per_sec = 2\nnew_flow_burst = 5"
        ),
        udp_listener(
            "bounded",
            bounded,
            &[&a],
            "new_flows_per_sec = 0\nmax_flows = 8"
        )
    ));

    // 40 new flows from one address at once: the burst gets through (and
    // what the rate refills meanwhile), the rest is dropped and counted.
    let vip: SocketAddr = ([127, 0, 0, 1], limited).into();
    let flood: Vec<UdpSocket> = (0..40).map(|_| client()).collect();
    let start = Instant::now();
    for sock in &flood {
        sock.send_to(b"ping", vip).unwrap();
        sock.set_nonblocking(true).unwrap();
    }
    let mut answered = vec![false; flood.len()];
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        for (sock, seen) in flood.iter().zip(answered.iter_mut()) {
            *seen |= sock.recv(&mut [0u8; 64]).is_ok();
        }
        std::thread::yield_now();
    }
    let answered = answered.iter().filter(|&&a| a).count() as u64;
    let refill = 2 * start.elapsed().as_secs() + 2;
    assert!(
        (5..=5 + refill).contains(&answered),
        "{answered} of 40 new flows answered"
    );
    assert_eq!(drops(&lb, "limited", "rate_limited"), 40 - answered);

    // A flow table bounded to 8: 20 flows evict the least recently used.
    let vip: SocketAddr = ([127, 0, 0, 1], bounded).into();
    let many: Vec<UdpSocket> = (0..20).map(|_| client()).collect();
    for sock in &many {
        answered_by(sock, vip);
    }
    let status = lb.status();
    let l = &status["listeners"][1];
    assert_eq!(l["name"], "bounded");
    assert!(l["flows_active"].as_u64().unwrap() <= 8, "{l}");
    assert!(drops(&lb, "bounded", "evicted") >= 12, "{l}");
    // An evicted flow is simply set up again when its client speaks.
    assert_eq!(answered_by(&many[0], vip), a.first);
}
