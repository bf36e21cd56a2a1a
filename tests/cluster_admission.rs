//! Admission holds across nodes: two `mra run` nodes on loopback share one
//! PostgreSQL and a meeting that takes three participants. With two rooms
//! in it through one node and one through the other, a fourth room is
//! refused whichever node it reaches — over SIP with 486 and a Warning,
//! over H.323 with ReleaseComplete and cause 17 (user busy) — and once a
//! room leaves one node, a room is admitted through the other.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use common::h323_room::{recorded, H323Room};
use common::postgres::Postgres;
use common::{isolate_network, sipp, Mra};
use signaling::h323::q931::{cause, MessageType};

const MEETING: &str = "123456789";

/// A node of the cluster: shared database, three participants a meeting.
fn node(pg: &Postgres) -> Mra {
    Mra::start_with(&[
        ("MRA_DATABASE_URL", &pg.url),
        ("MRA_MEETINGS_MAX_PARTICIPANTS", "3"),
    ])
}

/// Rooms holding `n` calls into the meeting through `node` for `hold_ms`,
/// in the background; joins to SIPp's (success, output).
fn rooms(node: &Mra, n: usize, hold_ms: u64) -> std::thread::JoinHandle<(bool, String)> {
    let sip = node.sip;
    std::thread::spawn(move || {
        let (n, hold) = (n.to_string(), hold_ms.to_string());
        sipp(
            "uac_join.xml",
            MEETING,
            sip,
            &["-m", &n, "-l", &n, "-r", "10", "-d", &hold],
        )
    })
}

fn in_meeting(node: &Mra, n: usize) {
    node.wait_calls(&format!("{n} rooms in the meeting"), |c| {
        c.iter().filter(|c| c["state"] == "in-meeting").count() == n
    });
}

/// A room's INVITE into the meeting over UDP: the final response (ACKed
/// when it is a refusal).
fn invite(to: SocketAddr) -> String {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let local = sock.local_addr().unwrap();
    let sdp = format!(
        "v=0\r\no=room 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {} RTP/AVP 0\r\n",
        local.port() + 2
    );
    let head = |method: &str| {
        format!(
            "{method} sip:{MEETING}@{to} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKfourth;rport\r\n\
             From: \"Fourth room\" <sip:fourth@{local}>;tag=f4\r\nTo: <sip:{MEETING}@{to}>\r\n\
             Call-ID: fourth-{}@{local}\r\nCSeq: 1 {method}\r\nMax-Forwards: 70\r\n",
            to.port()
        )
    };
    let request = format!(
        "{}Contact: <sip:fourth@{local}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        head("INVITE"),
        sdp.len()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    sock.send_to(request.as_bytes(), to).unwrap();
    while Instant::now() < deadline {
        let mut buf = [0u8; 4096];
        let Ok((n, _)) = sock.recv_from(&mut buf) else {
            sock.send_to(request.as_bytes(), to).unwrap();
            continue;
        };
        let response = String::from_utf8_lossy(&buf[..n]).into_owned();
        let code: u16 = response[8..11].parse().unwrap();
        if code < 200 {
            continue;
        }
        if code >= 300 {
            let to_line = response
                .lines()
                .find(|l| l.starts_with("To:"))
                .unwrap()
                .to_owned();
            let ack = head("ACK").replace(
                &format!("To: <sip:{MEETING}@{to}>\r\n"),
                &format!("{to_line}\r\n"),
            ) + "Content-Length: 0\r\n\r\n";
            sock.send_to(ack.as_bytes(), to).unwrap();
        }
        return response;
    }
    panic!("no final response from {to}");
}

/// An H.323 room's Setup into the meeting (a recorded fast-start call):
/// the Q.931 cause MRA releases it with.
fn h323_setup(node: &Mra) -> Option<u8> {
    let streams = recorded("faststart-tunneled-call.pcap");
    let mut room = H323Room::connect(node.h225);
    let setup = room.rewrite_setup(&streams[0].1[0], Some(MEETING));
    room.send_q931(&setup);
    let answers = room.until(MessageType::ReleaseComplete);
    answers.last().unwrap().cause()
}

#[test]
fn a_fourth_room_is_refused_on_either_node_of_a_three_seat_meeting() {
    isolate_network();
    let pg = Postgres::start();
    let a = node(&pg);
    let b = node(&pg);
    let (status, body) = a.http(
        "POST",
        "/api/v1/meetings",
        Some(&format!(
            r#"{{"number": "{MEETING}", "name": "Three seats"}}"#
        )),
    );
    assert_eq!(status, 201, "{body}");

    let on_a = rooms(&a, 2, 15_000);
    in_meeting(&a, 2);
    let on_b = rooms(&b, 1, 6_000);
    in_meeting(&b, 1);

    for (node, name) in [(&a, "a"), (&b, "b")] {
        let refused = invite(node.sip);
        assert!(
            refused.starts_with("SIP/2.0 486 "),
            "node {name}: {refused}"
        );
        assert!(
            refused
                .lines()
                .any(|l| l.starts_with("Warning:") && l.contains("Meeting is full")),
            "node {name}: {refused}"
        );
        assert_eq!(
            h323_setup(node),
            Some(cause::USER_BUSY),
            "node {name}: the H.323 room is released as busy"
        );
    }

    // The room on b leaves: its seat is free for a room arriving on a.
    let (ok, out) = on_b.join().unwrap();
    assert!(ok, "{out}");
    b.wait_calls("b's room gone", |c| c.is_empty());
    let (ok, out) = sipp("uac_join.xml", MEETING, a.sip, &["-m", "1", "-d", "500"]);
    assert!(ok, "a room gets the seat b's room left: {out}");
    let (ok, out) = on_a.join().unwrap();
    assert!(ok, "{out}");
}
