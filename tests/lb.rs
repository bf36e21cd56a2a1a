//! The load balancer end to end: a real `mra lb` in front of two real
//! `mra run` backends that trust its PROXY v2 headers, driven by SIPp.
//! What is asserted is what the peers saw: SIPp's calls completing (an
//! ACK or BYE reaching the wrong backend fails its call), each backend's
//! own call counters, and the Via rport a client gets back.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use common::lb::{listener, Lb};
use common::{free_port, isolate_network, options_request, sipp, Mra};

const MEETING: &str = "123456789";

/// A backend that believes 127.0.0.1's PROXY headers, with the meeting.
fn backend() -> Mra {
    let mra = Mra::start_with(&[("MRA_SIP_PROXY_PROTOCOL_FROM", "[\"127.0.0.1\"]")]);
    mra.create_meeting(MEETING, None);
    mra
}

fn admitted(b: &Mra) -> u64 {
    b.metric("mra_calls_admitted_total")
}

fn lb_addr(port: u16) -> SocketAddr {
    ([127, 0, 0, 1], port).into()
}

/// The rport the server put in the Via of its answer to `request`.
fn rport(answer: &str) -> u16 {
    let via = answer
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("via:"))
        .unwrap_or_else(|| panic!("no Via in {answer}"));
    let rport = via.split(';').find_map(|p| p.strip_prefix("rport="));
    rport
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no rport value in {via}"))
}

#[test]
fn udp_calls_spread_over_both_backends_and_every_dialog_stays_on_one() {
    isolate_network();
    let (a, b) = (backend(), backend());
    let port = free_port();
    let lb = Lb::start(&listener(
        "sip",
        "udp",
        port,
        &[&a, &b],
        "scheduler = \"wrr\"\naffinity = \"sip-call-id\"\nproxy_protocol = true\n\
         health = { kind = \"sip-options\", interval_ms = 300, fall = 2, rise = 2 }",
    ));
    // All calls from one source port, as a room or an SBC sends them:
    // only Call-ID affinity can spread them and keep each dialog whole.
    let (ok, out) = sipp(
        "uac_join.xml",
        MEETING,
        lb_addr(port),
        &["-m", "20", "-r", "20"],
    );
    assert!(ok, "SIPp through the LB failed:\n{out}\n{}", lb.log());
    let (on_a, on_b) = (admitted(&a), admitted(&b));
    assert_eq!(on_a + on_b, 20);
    assert!(on_a >= 5 && on_b >= 5, "spread {on_a}/{on_b}");

    // The backend saw the client's own address, not the LB's socket.
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let request = options_request(&client, lb_addr(port), "viaLb");
    client.send_to(request.as_bytes(), lb_addr(port)).unwrap();
    let mut buf = [0u8; 4096];
    let n = client.recv(&mut buf).expect("an answer through the LB");
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("SIP/2.0 200"), "{answer}");
    assert_eq!(
        rport(&answer),
        client.local_addr().unwrap().port(),
        "{answer}"
    );

    let metrics = lb.metrics();
    assert!(
        metrics.contains("mra_lb_flows_total{listener=\"sip\"}"),
        "{metrics}"
    );
}

#[test]
fn tcp_calls_spread_per_connection_with_the_client_address() {
    isolate_network();
    let (a, b) = (backend(), backend());
    let port = free_port();
    let lb = Lb::start(&listener(
        "sip-tcp",
        "tcp",
        port,
        &[&a, &b],
        "scheduler = \"wrr\"\nproxy_protocol = true\n\
         health = { kind = \"sip-options\", interval_ms = 300, fall = 2, rise = 2 }",
    ));
    // One TCP connection per call.
    let (ok, out) = sipp(
        "uac_join.xml",
        MEETING,
        lb_addr(port),
        &["-t", "tn", "-max_socket", "100", "-m", "10", "-r", "10"],
    );
    assert!(
        ok,
        "SIPp over TCP through the LB failed:\n{out}\n{}",
        lb.log()
    );
    let (on_a, on_b) = (admitted(&a), admitted(&b));
    assert_eq!(
        (on_a + on_b, on_a.min(on_b)),
        (10, 5),
        "wrr alternates connections"
    );

    let mut stream = TcpStream::connect(lb_addr(port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let local = stream.local_addr().unwrap();
    let request = format!(
        "OPTIONS sip:{MEETING}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP {local};branch=z9hG4bKtcplb;rport\r\nFrom: <sip:t@{local}>;tag=t\r\nTo: <sip:{MEETING}@127.0.0.1>\r\nCall-ID: tcp-lb-probe\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut buf = [0u8; 4096];
    let n = stream.read(&mut buf).unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("SIP/2.0 200"), "{answer}");
    assert_eq!(rport(&answer), local.port(), "{answer}");
}

#[test]
fn draining_and_a_dead_backend_move_new_calls_and_spare_existing_ones() {
    isolate_network();
    let (mut a, b) = (backend(), backend());
    let port = free_port();
    let (interval_ms, fall) = (300, 2);
    let lb = Lb::start(&listener(
        "sip",
        "udp",
        port,
        &[&a, &b],
        &format!(
            "scheduler = \"wrr\"\naffinity = \"sip-call-id\"\nproxy_protocol = true\n\
             health = {{ kind = \"sip-options\", interval_ms = {interval_ms}, fall = {fall}, rise = 2 }}"
        ),
    ));
    let target = lb_addr(port);
    let long_calls = |n: &str| {
        std::thread::spawn({
            let n = n.to_owned();
            move || {
                sipp(
                    "uac_join.xml",
                    MEETING,
                    target,
                    &["-m", &n, "-r", "20", "-d", "3000"],
                )
            }
        })
    };

    // Drain A while it carries calls: they finish, new ones go to B.
    let running = long_calls("4");
    a.wait_calls("two calls on A", |c| c.len() == 2);
    b.wait_calls("two calls on B", |c| c.len() == 2);
    lb.drain("sip", a.sip, true);
    let before = (admitted(&a), admitted(&b));
    let (ok, out) = sipp("uac_join.xml", MEETING, target, &["-m", "4", "-r", "20"]);
    assert!(ok, "{out}");
    assert_eq!(
        (admitted(&a), admitted(&b)),
        (before.0, before.1 + 4),
        "all new calls on B"
    );
    let (ok, out) = running.join().unwrap();
    assert!(ok, "calls on the draining backend were cut:\n{out}");
    a.wait_calls("A empty", |c| c.is_empty());
    assert_eq!(lb.backend("sip", a.sip)["state"], "draining");
    lb.drain("sip", a.sip, false);

    // Kill A while both carry a call: B's call completes (its BYE reaches
    // B, which then has no call left), A is marked down within
    // interval × fall (+ the probe timeout, + polling slack), and every
    // new call succeeds on B.
    let running = long_calls("2");
    a.wait_calls("a call on A", |c| !c.is_empty());
    b.wait_calls("a call on B", |c| !c.is_empty());
    a.kill();
    let took = lb.wait_state("sip", a.sip, "down");
    let bound = Duration::from_millis(interval_ms * fall + interval_ms / 2 + 500);
    assert!(
        took <= bound,
        "marked down after {took:?} (bound {bound:?})"
    );
    let _ = running.join().unwrap(); // A's call fails with A; B's must end cleanly:
    b.wait_calls("B's call ended by its BYE", |c| c.is_empty());
    let before = admitted(&b);
    let (ok, out) = sipp("uac_join.xml", MEETING, target, &["-m", "10", "-r", "20"]);
    assert!(ok, "new calls after the failure:\n{out}\n{}", lb.log());
    assert_eq!(admitted(&b), before + 10);
    assert!(lb.metrics().contains(&format!(
        "mra_lb_backend_up{{listener=\"sip\",backend=\"{}\"}} 0",
        a.sip
    )));
}
