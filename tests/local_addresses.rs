//! A node bound to every address (`sip.bind = 0.0.0.0`, the default) and
//! reached at two of them, 127.0.0.2 and 127.0.0.3: each room is told
//! the address it dialled, in SIP (Via, Contact, SDP over UDP and TCP)
//! and H.323 (GCF, RCF, ACF, Connect's H.245 address, the fast-start
//! answer), and every answer — SIP, RAS, the IVR's RTP — comes from that
//! address. Without this, a room on the LAN was given 127.0.0.1.

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use common::h323::{endpoint_id, RasClient};
use common::h323_room::{fast_start_media_channel, h245_address, recorded, H323Room};
use common::{isolate_network, Mra};
use h323_asn1::h225::RasMessage;
use signaling::h323::address::socket_addr;
use signaling::h323::q931::MessageType;

const DIALLED: [[u8; 4]; 2] = [[127, 0, 0, 2], [127, 0, 0, 3]];

/// `mra run` on every address of a network namespace with only loopback.
fn on_every_address() -> Mra {
    isolate_network();
    Mra::start_with(&[("MRA_SIP_BIND", "0.0.0.0")])
}

/// An INVITE without a meeting number (the IVR answers it at once).
fn invite(transport: &str, from: SocketAddr, to: SocketAddr, rtp: SocketAddr) -> String {
    let sdp = format!(
        "v=0\r\no=room 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
        ip = rtp.ip(),
        port = rtp.port()
    );
    format!(
        "INVITE sip:{to} SIP/2.0\r\nVia: SIP/2.0/{transport} {from};branch=z9hG4bK-{transport}-{ip};rport\r\n\
         From: <sip:room@{from}>;tag=room\r\nTo: <sip:{to}>\r\nCall-ID: local-{transport}-{ip}@room\r\n\
         CSeq: 1 INVITE\r\nContact: <sip:room@{from}>\r\nMax-Forwards: 70\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len(),
        ip = to.ip(),
    )
}

/// The value of header `name` in `msg`.
fn header<'a>(msg: &'a str, name: &str) -> &'a str {
    msg.lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
        .unwrap_or_else(|| panic!("no {name} in:\n{msg}"))
}

/// The SDP answer's connection address and audio port.
fn sdp_media(msg: &str) -> SocketAddr {
    let c = msg
        .lines()
        .find_map(|l| l.strip_prefix("c=IN IP4 "))
        .unwrap_or_else(|| panic!("no c= in:\n{msg}"));
    let port = msg
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|l| l.split(' ').next())
        .unwrap_or_else(|| panic!("no m=audio in:\n{msg}"));
    SocketAddr::new(c.trim().parse().unwrap(), port.parse().unwrap())
}

/// The room's leg is up: where our RTP comes from once the IVR speaks.
fn rtp_source(rtp: &UdpSocket) -> SocketAddr {
    rtp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 2048];
    let (_, from) = rtp.recv_from(&mut buf).expect("the IVR's prompt as RTP");
    from
}

#[test]
fn sip_rooms_get_the_address_they_dialled_over_udp_and_tcp() {
    let mra = on_every_address();
    let room = UdpSocket::bind("127.0.0.1:0").unwrap();
    room.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    for ip in DIALLED.map(IpAddr::from) {
        let gateway = SocketAddr::new(ip, mra.sip.port());
        // UDP
        let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let me = room.local_addr().unwrap();
        room.send_to(
            invite("UDP", me, gateway, rtp.local_addr().unwrap()).as_bytes(),
            gateway,
        )
        .unwrap();
        let ok = loop {
            let mut buf = [0u8; 4096];
            let (n, from) = room.recv_from(&mut buf).expect("an answer");
            assert_eq!(from, gateway, "SIP answers come from the dialled address");
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            if text.starts_with("SIP/2.0 200") {
                break text;
            }
        };
        assert_eq!(
            header(&ok, "Contact"),
            format!("<sip:mra@{gateway}>"),
            "UDP Contact"
        );
        let media = sdp_media(&ok);
        assert_eq!(media.ip(), ip, "UDP SDP c= line:\n{ok}");
        assert_eq!(
            rtp_source(&rtp),
            media,
            "RTP comes from the answered address"
        );

        // TCP
        let mut conn = TcpStream::connect(gateway).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let me = conn.local_addr().unwrap();
        conn.write_all(invite("TCP", me, gateway, rtp.local_addr().unwrap()).as_bytes())
            .unwrap();
        let mut text = String::new();
        let mut buf = [0u8; 4096];
        while !(text.contains("SIP/2.0 200") && text.contains("m=audio")) {
            let n = conn.read(&mut buf).expect("answers over TCP");
            assert!(n > 0, "connection closed; got:\n{text}");
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        let ok = &text[text.find("SIP/2.0 200").unwrap()..];
        assert_eq!(
            header(ok, "Contact"),
            format!("<sip:mra@{gateway};transport=tcp>"),
            "TCP Contact"
        );
        let media = sdp_media(ok);
        assert_eq!(media.ip(), ip, "TCP SDP c= line:\n{ok}");
        assert_eq!(
            rtp_source(&rtp),
            media,
            "RTP comes from the answered address"
        );
    }
    mra.wait_calls("two calls per address, UDP and TCP", |c| c.len() == 4);
}

#[test]
fn h323_rooms_get_the_address_they_dialled() {
    let mra = on_every_address();
    let (code, body) = mra.http(
        "POST",
        "/api/v1/rooms",
        Some(r#"{"user":"1001","password":"s3cret","name":"Board room","transports":["h323"]}"#),
    );
    assert_eq!(code, 201, "{body}");
    for ip in DIALLED.map(IpAddr::from) {
        let ras = SocketAddr::new(ip, mra.ras.port());
        let h225 = SocketAddr::new(ip, mra.h225.port());
        let mut ep = RasClient::new(ras).signing("s3cret");
        match ep.discover(false) {
            RasMessage::gatekeeperConfirm(gcf) => {
                assert_eq!(socket_addr(&gcf.ras_address), Some(ras), "GCF rasAddress")
            }
            other => panic!("GRQ answered {other:?}"),
        }
        let rcf = ep.register(&["1001"], None);
        let RasMessage::registrationConfirm(c) = &rcf else {
            panic!("RRQ answered {rcf:?}")
        };
        assert_eq!(socket_addr(&c.call_signal_address[0]), Some(h225), "RCF");
        match ep.admission(&endpoint_id(&rcf), "123456789") {
            RasMessage::admissionConfirm(acf) => assert_eq!(
                socket_addr(&acf.dest_call_signal_address),
                Some(h225),
                "ACF destCallSignalAddress"
            ),
            other => panic!("ARQ answered {other:?}"),
        }
        for (from, _, _) in ep.wire.iter().filter(|(_, to, _)| *to == ep.local()) {
            assert_eq!(*from, ras, "RAS answers come from the dialled address");
        }

        // A fast-start call: the answered media channel is on that address.
        let setup = &recorded("faststart-tunneled-call.pcap")[0].1[0];
        let mut room = H323Room::connect(h225);
        let setup = room.rewrite_setup(setup, None);
        room.send_q931(&setup);
        let connect = room.until(MessageType::Connect).pop().unwrap();
        let rtp = fast_start_media_channel(&connect, 1).expect("fast start answered");
        assert_eq!(rtp.ip(), ip, "fast-start media channel");

        // A call that opens H.245 on its own connection: our H.245 address.
        let setup = &recorded("separate-h245-call.pcap")[0].1[0];
        let mut room = H323Room::connect(h225);
        room.send_q931(setup);
        let connect = room.until(MessageType::Connect).pop().unwrap();
        let h245 = h245_address(&connect).expect("an H.245 address");
        assert_eq!(h245.ip(), ip, "Connect h245Address");
        room.open_h245(h245);
    }
}
