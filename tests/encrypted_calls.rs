//! Encrypted calls against real peers: baresip over SIP TLS with SRTP
//! (keyed by SDES, or by DTLS-SRTP on the media path) in a meeting with a
//! baresip in clear. Each hears the other (its own decoding); on the
//! wire, captured on loopback, the TLS leg carries no readable SIP and
//! its RTP payload decodes to noise, while the clear leg's decodes to its
//! tone.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::baresip::{Baresip, Source};
use common::capture::Capture;
use common::pcap::{segments, Transport};
use common::wav;
use common::Mra;

const WAIT: Duration = Duration::from_secs(15);

/// The μ-law samples of the RTP packets (PCMU) `from` sent.
fn pcmu_from(pcap: &std::path::Path, from: SocketAddr) -> Vec<i16> {
    segments(pcap)
        .into_iter()
        .filter(|s| s.transport == Transport::Udp && s.from == from)
        .filter(|s| s.payload.len() > 12 && s.payload[0] >> 6 == 2 && s.payload[1] & 0x7f == 0)
        .flat_map(|s| {
            let csrcs = usize::from(s.payload[0] & 0x0f) * 4;
            s.payload[12 + csrcs..]
                .iter()
                .map(|&b| media::audio::g711_ulaw_decode(b))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn a_room_over_tls_with_srtp_and_a_clear_room_hear_each_other_and_the_wire_hides_only_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = encrypted_and_clear_rooms_hear_each_other(
        dir.path(),
        "srtp-mand",
        "sdes:AES_CM_128_HMAC_SHA1_80",
    );
    assert!(
        dtls_handshakes(&pcap).is_empty(),
        "SDES keys the streams without DTLS"
    );
}

#[test]
fn a_room_keyed_by_dtls_srtp_and_a_clear_room_hear_each_other_and_the_wire_hides_only_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = encrypted_and_clear_rooms_hear_each_other(dir.path(), "dtls_srtp", "dtls-srtp");
    // baresip connects (we answered passive) on its RTP and RTCP ports.
    let handshakes = dtls_handshakes(&pcap);
    let hellos = handshakes.iter().filter(|types| types.contains(&1)).count();
    assert!(hellos >= 2, "ClientHellos on both ports: {handshakes:?}");
}

/// The DTLS handshake message types of each captured datagram holding
/// some (tshark's DTLS heuristics find them on any port).
fn dtls_handshakes(pcap: &std::path::Path) -> Vec<Vec<u32>> {
    common::pcap::tshark_read(pcap, &[], &["dtls.handshake.type"])
        .lines()
        .map(|l| l.split(',').filter_map(|t| t.parse().ok()).collect())
        .filter(|types: &Vec<u32>| !types.is_empty())
        .collect()
}

/// A room dialling over TLS with `mediaenc` (its calls showing
/// `encryption` for audio) and a clear room meet: each hears the other,
/// the encrypted room's RTP payload on the wire is noise and the clear
/// one's its tone, and no SIP crosses the TLS port in clear. The capture
/// (kept in `dir`).
fn encrypted_and_clear_rooms_hear_each_other(
    dir: &std::path::Path,
    mediaenc: &str,
    encryption: &str,
) -> std::path::PathBuf {
    let mra = Mra::start();
    mra.create_meeting("123456789", Some("4321"));
    let (min, max) = mra.media_ports();
    let capture = Capture::start(
        &dir.join("wire.pcap"),
        &format!(
            "tcp port {} or udp portrange {min}-{max}",
            mra.sip_tls.port()
        ),
    );
    let khz = dir.join("1k.wav");
    wav::write_tones(&khz, &[(&[1000.0], 60.0)]);
    let mut secure = Baresip::encrypted("secure", Source::Sine(440), "PCMU", mediaenc);
    let mut clear = Baresip::start("clear", Source::File(&khz), Some("PCMU"));
    secure.dial(&format!(
        "sip:123456789**4321@{};transport=tls",
        mra.sip_tls
    ));
    clear.dial(&format!("sip:123456789**4321@{}", mra.sip));
    mra.wait_calls("both rooms in the meeting, hearing each other", |c| {
        c.len() == 2
            && c.iter()
                .all(|c| c["state"] == "in-meeting" && c["media"]["meeting_streams"] == 1)
    });
    let calls = mra.wait_calls("three seconds of audio both ways", |c| {
        c.iter().all(|c| {
            c["media"]["packets_received"].as_u64() >= Some(150)
                && c["media"]["packets_sent"].as_u64() >= Some(150)
        })
    });
    let by_name = |name: &str| {
        calls
            .iter()
            .find(|c| c["display_name"] == name)
            .unwrap_or_else(|| panic!("no call of {name}: {calls:?}"))
            .clone()
    };
    let (tls_call, clear_call) = (by_name("secure"), by_name("clear"));
    assert_eq!(tls_call["transport"], "TLS", "{tls_call}");
    assert_eq!(tls_call["encryption"]["audio"], encryption, "{tls_call}");
    // baresip's first RTCP (an APP "PING" to open NATs) goes out before
    // its SRTCP does, in clear: dropped, as anything unauthenticated is.
    assert!(
        tls_call["media"]["srtp_auth_failures"].as_u64() <= Some(1),
        "{tls_call}"
    );
    assert_eq!(clear_call["transport"], "UDP", "{clear_call}");
    assert_eq!(clear_call["encryption"]["audio"], "none", "{clear_call}");
    for room in [&mut secure, &mut clear] {
        room.command("hangup", "");
        room.wait_event("CALL_CLOSED", WAIT);
    }
    wav::read(&secure.decoded()).assert_hears("the room over TLS", &[1000.0], 440.0);
    wav::read(&clear.decoded()).assert_hears("the room in clear", &[440.0], 1000.0);

    let pcap = capture.stop();
    let address = |call: &serde_json::Value| -> SocketAddr {
        call["media"]["remote"].as_str().unwrap().parse().unwrap()
    };
    let tone = |samples: &[i16], hz| media::tones::tone_share(samples, hz, 8000);
    let heard_clear = pcmu_from(&pcap, address(&clear_call));
    assert!(
        heard_clear.len() > 8000,
        "the clear room's RTP was captured"
    );
    assert!(
        tone(&heard_clear, 1000.0) > 0.5,
        "the clear leg's RTP decodes to its 1 kHz tone"
    );
    let heard_secure = pcmu_from(&pcap, address(&tls_call));
    assert!(
        heard_secure.len() > 8000,
        "the TLS room's SRTP was captured"
    );
    let share = tone(&heard_secure, 440.0);
    assert!(
        share < 0.05,
        "the TLS room's SRTP decodes to noise, not its 440 Hz tone: share {share:.3}"
    );
    // Signaling: TLS records only, no SIP in clear on the TLS port.
    let tls: Vec<_> = segments(&pcap)
        .into_iter()
        .filter(|s| s.transport == Transport::Tcp && (s.to == mra.sip_tls || s.from == mra.sip_tls))
        .collect();
    assert!(!tls.is_empty(), "the TLS connection was captured");
    assert!(tls
        .iter()
        .all(|s| !s.payload.windows(7).any(|w| w == b"SIP/2.0")));
    let handshakes = common::pcap::tshark_read(
        &pcap,
        &[&format!("tcp.port=={},tls", mra.sip_tls.port())],
        &["tls.handshake.type"],
    );
    assert!(
        handshakes.lines().any(|l| l.split(',').any(|t| t == "1")),
        "a ClientHello: {handshakes}"
    );
    pcap
}

/// Connections to `to` from `ip` that say nothing (a stalled handshake).
fn stalled(ip: [u8; 4], to: SocketAddr, n: usize) -> Vec<std::net::TcpStream> {
    (0..n)
        .map(|_| {
            let socket =
                socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            socket.bind(&SocketAddr::from((ip, 0)).into()).unwrap();
            socket.connect(&to.into()).unwrap();
            socket.into()
        })
        .collect()
}

/// Whether the far end closed `conn` (EOF or reset) within `within`.
fn closed(conn: &mut std::net::TcpStream, within: Duration) -> bool {
    use std::io::{ErrorKind, Read};
    conn.set_read_timeout(Some(within)).unwrap();
    match conn.read(&mut [0u8; 64]) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
    }
}

#[test]
fn the_tls_port_bears_a_flood_of_stalled_and_garbage_connections_while_a_call_gets_through() {
    let mra = Mra::start_with(&[
        ("MRA_SIP_TLS_MAX_CONNECTIONS_PER_SOURCE", "8"),
        ("MRA_SIP_TLS_HANDSHAKE_TIMEOUT_SECS", "2"),
    ]);
    mra.create_meeting("123456789", Some("4321"));
    // 20 stalled from one address: 8 wait for their handshake, 12 are shut at once.
    let mut flood = stalled([127, 0, 0, 2], mra.sip_tls, 20);
    for (i, ip) in (3..8).enumerate() {
        use std::io::Write;
        let mut junk = stalled([127, 0, 0, ip], mra.sip_tls, 1).remove(0);
        junk.write_all(format!("GARBAGE {i}\r\n\r\n").as_bytes())
            .unwrap();
    }
    let mut room = Baresip::encrypted("secure", Source::Sine(440), "PCMU", "srtp-mand");
    room.dial(&format!(
        "sip:123456789**4321@{};transport=tls",
        mra.sip_tls
    ));
    mra.wait_calls("the room in the meeting", |c| {
        c.len() == 1 && c[0]["state"] == "in-meeting"
    });
    // Each flood socket sees us close it (at once, or at the handshake
    // timeout); each was counted before it was closed.
    assert!(flood.iter_mut().all(|c| closed(c, Duration::from_secs(10))));
    let counted = |name: &str| mra.metric(name);
    assert_eq!(counted("mra_sip_tls_handshake_timeouts_total"), 8);
    assert_eq!(counted("mra_sip_tls_refused_total"), 12);
    assert_eq!(counted("mra_sip_tls_handshake_failures_total"), 5);
    assert_eq!(
        counted("mra_sip_tls_connections"),
        1,
        "only the room's is open"
    );
    room.command("hangup", "");
    room.wait_event("CALL_CLOSED", WAIT);
}

#[test]
fn a_required_installation_refuses_a_clear_room_with_488_and_admits_an_encrypted_one() {
    let mra = Mra::start_with(&[("MRA_MEDIA_ENCRYPTION", "required")]);
    mra.create_meeting("123456789", Some("4321"));
    let mut clear = Baresip::start("clear", Source::Sine(440), Some("PCMU"));
    let response = clear.request("dial", &format!("sip:123456789**4321@{}", mra.sip));
    assert_eq!(response["ok"], true, "{response}");
    let closed = clear.wait_event("CALL_CLOSED", WAIT);
    assert!(
        closed["param"].as_str().is_some_and(|p| p.contains("488")),
        "{closed}"
    );
    let mut secure = Baresip::encrypted("secure", Source::Sine(440), "PCMU", "srtp-mand");
    secure.dial(&format!(
        "sip:123456789**4321@{};transport=tls",
        mra.sip_tls
    ));
    let calls = mra.wait_calls("the encrypted room in", |c| {
        c.len() == 1 && c[0]["state"] == "in-meeting"
    });
    assert_eq!(
        calls[0]["encryption"]["audio"],
        "sdes:AES_CM_128_HMAC_SHA1_80"
    );
    assert_eq!(mra.metric("mra_calls_refused_total"), 1);
    secure.command("hangup", "");
    secure.wait_event("CALL_CLOSED", WAIT);
}

#[test]
fn a_meeting_that_requires_encryption_refuses_a_clear_room_and_admits_one_keyed_by_dtls_over_udp() {
    let mra = Mra::start();
    mra.create_meeting("123456789", Some("4321"));
    let (status, body) = mra.http(
        "PUT",
        "/api/v1/meetings/123456789/encryption",
        Some(r#"{"encryption": "required"}"#),
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""encryption":"required""#), "{body}");
    let mut clear = Baresip::start("clear", Source::Sine(440), Some("PCMU"));
    let response = clear.request("dial", &format!("sip:123456789**4321@{}", mra.sip));
    assert_eq!(response["ok"], true, "{response}");
    let closed = clear.wait_event("CALL_CLOSED", WAIT);
    assert!(
        closed["param"].as_str().is_some_and(|p| p.contains("488")),
        "{closed}"
    );
    // DTLS-SRTP keys never cross signaling: plain UDP SIP carries it.
    let mut secure =
        Baresip::encrypted_over("udp", "secure", Source::Sine(440), "PCMU", "dtls_srtp");
    secure.dial(&format!("sip:123456789**4321@{}", mra.sip));
    let calls = mra.wait_calls("the encrypted room in, hearing audio", |c| {
        c.len() == 1
            && c[0]["state"] == "in-meeting"
            && c[0]["media"]["packets_received"].as_u64() >= Some(50)
    });
    assert_eq!(calls[0]["transport"], "UDP", "{calls:?}");
    assert_eq!(calls[0]["encryption"]["audio"], "dtls-srtp", "{calls:?}");
    assert_eq!(mra.metric("mra_calls_refused_total"), 1);
    secure.command("hangup", "");
    secure.wait_event("CALL_CLOSED", WAIT);
}

#[test]
fn a_tls_scanner_finds_only_tls_1_2_and_1_3_with_aead_ciphers() {
    let mra = Mra::start();
    let out = common::tools::command("sslscan")
        .args(["--no-colour", &mra.sip_tls.to_string()])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    for (protocol, state) in [
        ("SSLv2", "disabled"),
        ("SSLv3", "disabled"),
        ("TLSv1.0", "disabled"),
        ("TLSv1.1", "disabled"),
        ("TLSv1.2", "enabled"),
        ("TLSv1.3", "enabled"),
    ] {
        assert!(
            report
                .lines()
                .any(|l| l.split_whitespace().eq([protocol, state])),
            "{protocol} should be {state}:\n{report}"
        );
    }
    let ciphers: Vec<&str> = report
        .lines()
        .filter(|l| l.starts_with("Accepted") || l.starts_with("Preferred"))
        .collect();
    assert!(!ciphers.is_empty(), "{report}");
    for cipher in ciphers {
        let strong = (cipher.contains("GCM") || cipher.contains("CHACHA20"))
            && !cipher.contains(" 0 bits")
            && cipher.contains("TLSv1.");
        assert!(strong, "a cipher that is not an AEAD one: {cipher}");
    }
}

#[test]
fn a_room_registers_over_tls_and_is_called_out_on_its_connection_with_srtp() {
    let mra = Mra::start();
    mra.create_meeting("123456789", None);
    mra.add_room("2001", "b4resip");
    let mut called =
        Baresip::registered_over_tls("2001", "b4resip", mra.sip_tls, Source::Sine(440));
    let room = mra.wait_room("2001", "registration over TLS", |r| r["status"] == "online");
    assert_eq!(room["contacts"][0]["transport"], "tls", "{room}");
    let (status, body) = mra.http(
        "POST",
        "/api/v1/meetings/123456789/invite",
        Some(r#"{"room": "2001"}"#),
    );
    assert_eq!(status, 202, "{body}");
    let calls = mra.wait_calls("the room called in", |c| {
        c.len() == 1 && c[0]["state"] == "in-meeting"
    });
    assert_eq!(calls[0]["transport"], "TLS", "{calls:?}");
    // Our offer over TLS carried keys (best effort): the room took them.
    assert_eq!(
        calls[0]["encryption"]["audio"], "sdes:AES_CM_128_HMAC_SHA1_80",
        "{calls:?}"
    );
    called.command("hangup", "");
    called.wait_event("CALL_CLOSED", WAIT);
    mra.wait_calls("the call ended", |c| c.is_empty());
}

#[test]
fn an_sdes_video_room_and_a_clear_one_see_each_other() {
    encrypted_and_clear_video_rooms_see_each_other("srtp-mand", "sdes:AES_CM_128_HMAC_SHA1_80");
}

#[test]
fn a_dtls_srtp_video_room_and_a_clear_one_see_each_other() {
    encrypted_and_clear_video_rooms_see_each_other("dtls_srtp", "dtls-srtp");
}

/// A video room dialling over TLS with `mediaenc` (its video showing
/// `encryption`) and a clear one see each other's colour.
fn encrypted_and_clear_video_rooms_see_each_other(mediaenc: &str, encryption: &str) {
    use common::clips::{clip, looks, GREEN, RED};
    let mra = Mra::start();
    mra.create_meeting("123456789", Some("4321"));
    let dir = tempfile::tempdir().unwrap();
    let red = clip(dir.path(), "red", "red.mp4");
    let green = clip(dir.path(), "lime", "green.mp4");
    let mut secure = Baresip::encrypted_video_room("secure", Source::Sine(440), &red, mediaenc);
    let mut clear = Baresip::video_room("clear", Source::Sine(700), &green, "H264");
    secure.dial(&format!(
        "sip:123456789**4321@{};transport=tls",
        mra.sip_tls
    ));
    clear.dial(&format!("sip:123456789**4321@{}", mra.sip));
    let within = Duration::from_secs(20);
    secure.received_colour(within, |rgb| looks(rgb, GREEN));
    clear.received_colour(within, |rgb| looks(rgb, RED));
    let calls = mra.wait_calls("both rooms in", |c| c.len() == 2);
    let secure_call = calls
        .iter()
        .find(|c| c["display_name"] == "secure")
        .unwrap();
    assert_eq!(
        secure_call["encryption"]["video"], encryption,
        "{secure_call}"
    );
    // A still colour makes few packets: what counts is that the room's
    // camera was decrypted and decoded.
    let video = &secure_call["media"]["video"];
    assert!(video["camera_frames_decoded"].as_u64() > Some(5), "{video}");
    for room in [&mut secure, &mut clear] {
        room.command("hangup", "");
        room.wait_event("CALL_CLOSED", WAIT);
    }
}

#[test]
fn linphonec_over_tls_with_sdes_and_a_clear_room_see_and_hear_each_other() {
    linphone_and_a_clear_room_meet("srtp", "sdes:AES_CM_128_HMAC_SHA1_80");
}

#[test]
fn linphonec_over_tls_with_dtls_srtp_and_a_clear_room_see_and_hear_each_other() {
    linphone_and_a_clear_room_meet("dtls", "dtls-srtp");
}

/// linphonec over TLS with `media_encryption` (its streams showing
/// `encryption`) and a clear baresip video room: each sees the other's
/// colour, and the clear room hears linphonec's tone.
fn linphone_and_a_clear_room_meet(media_encryption: &str, encryption: &str) {
    use common::clips::{clip, looks, BLUE, RED};
    use common::linphone::Linphone;
    let mra = Mra::start();
    mra.create_meeting("123456789", Some("4321"));
    let dir = tempfile::tempdir().unwrap();
    let red = clip(dir.path(), "red", "red.mp4");
    let blue = clip(dir.path(), "blue", "blue.jpg");
    let speech = dir.path().join("lin.wav");
    wav::write_tones(&speech, &[(&[700.0], 30.0)]);
    let mut lin = Linphone::encrypted_video_room("lin", "Lin", &blue, &speech, media_encryption);
    let mut clear = Baresip::video_room("clear", Source::Sine(440), &red, "H264");
    lin.dial(&format!(
        "sip:123456789**4321@{};transport=tls",
        mra.sip_tls
    ));
    clear.dial(&format!("sip:123456789**4321@{}", mra.sip));
    let within = Duration::from_secs(20);
    lin.received_picture(within, |t| looks(t.middle(), RED));
    clear.received_colour(within, |rgb| looks(rgb, BLUE));
    let calls = mra.wait_calls("linphonec heard in the meeting", |c| {
        c.len() == 2
            && c.iter()
                .all(|c| c["media"]["packets_received"].as_u64() >= Some(100))
    });
    let lin_call = calls
        .iter()
        .find(|c| c["transport"] == "TLS")
        .unwrap_or_else(|| panic!("no TLS call: {calls:?}"));
    assert_eq!(lin_call["encryption"]["audio"], encryption, "{lin_call}");
    assert_eq!(lin_call["encryption"]["video"], encryption, "{lin_call}");
    clear.command("hangup", "");
    clear.wait_event("CALL_CLOSED", WAIT);
    wav::read(&clear.decoded()).assert_hears("the clear room", &[700.0], 440.0);
}
