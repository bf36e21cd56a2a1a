//! Rooms register with digest authentication against a real `mra run`:
//! SIPp and baresip as the rooms, a scripted client where the exchange must
//! be controlled exactly; bindings checked through `/api/v1/rooms`, kept
//! across restarts. Every test runs twice: on SQLite (the default store)
//! and on a throw-away PostgreSQL server.

mod common;

use common::baresip::{Baresip, Source};
use common::postgres::Postgres;
use common::register::Registration;
use common::{sipp, Mra};

/// The store a test's `mra run` uses.
#[derive(Clone, Copy)]
enum Db {
    Sqlite,
    Postgresql,
}

impl Db {
    /// `mra run` on this store with the `MRA_*` overrides `env`; the
    /// PostgreSQL server (if any) lives as long as the second value.
    fn start(self, env: &[(&str, &str)]) -> (Mra, Option<Postgres>) {
        match self {
            Db::Sqlite => (Mra::start_with(env), None),
            Db::Postgresql => {
                let pg = Postgres::start();
                let mut env = env.to_vec();
                env.push(("MRA_DATABASE_URL", &pg.url));
                (Mra::start_with(&env), Some(pg))
            }
        }
    }
}

/// Each named test, once per store.
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test]
            fn $name() {
                super::$name(super::Db::Sqlite)
            })*
        }
        mod postgresql {
            $(#[test]
            fn $name() {
                super::$name(super::Db::Postgresql)
            })*
        }
    };
}

on_both_stores!(
    sipp_registers_with_md5_digest_over_udp_and_tcp_and_the_room_shows_it,
    sha256_digest_registers_and_the_binding_lapses_when_it_expires,
    wrong_passwords_get_401_like_unknown_users_then_the_address_is_locked_out,
    a_replayed_nonce_count_and_a_foreign_domain_are_refused,
    too_short_an_expiry_gets_423_and_star_unregisters,
    a_restart_keeps_bindings,
    baresip_registers_with_digest,
    keepalives_mark_a_registered_room_online_then_offline_when_it_goes_silent,
    a_rooms_own_call_rate_is_kept_and_caps_the_video_of_its_calls,
    a_rooms_own_encryption_policy_is_kept_and_refuses_its_clear_calls,
);
use registrar::Algorithm;
use serde_json::Value;

fn sipp_registers_with_md5_digest_over_udp_and_tcp_and_the_room_shows_it(db: Db) {
    let (mra, _pg) = db.start(&[]);
    mra.add_room("1001", "s3cret");
    for transport in ["u1", "t1"] {
        let (ok, out) = sipp(
            "register_digest.xml",
            "1001",
            mra.sip,
            &["-t", transport, "-m", "1", "-au", "1001", "-ap", "s3cret"],
        );
        assert!(ok, "SIPp over {transport}: {out}");
    }
    let r = mra.room("1001");
    assert_eq!(r["status"], "online");
    let transports: Vec<&str> = r["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["transport"].as_str().unwrap())
        .collect();
    assert_eq!(transports.len(), 2, "{r}");
    assert!(
        transports.contains(&"udp") && transports.contains(&"tcp"),
        "{r}"
    );
    assert_eq!(r["user_agent"], "SIPp room");
    let (status, csv) = mra.http("GET", "/api/v1/rooms.csv", None);
    assert_eq!(status, 200);
    assert!(csv.starts_with("user,name,status,"), "{csv}");
    assert_eq!(
        csv.lines()
            .filter(|l| l.starts_with("1001,Room 1001,online,"))
            .count(),
        2,
        "{csv}"
    );
    assert_eq!(mra.metric("mra_registrations_total"), 2);
}

fn sha256_digest_registers_and_the_binding_lapses_when_it_expires(db: Db) {
    let (mra, _pg) = db.start(&[
        ("MRA_REGISTRAR_MIN_EXPIRES_SECS", "1"),
        ("MRA_REGISTRAR_ALGORITHMS", r#"["SHA-256", "MD5"]"#),
    ]);
    mra.add_room("1002", "pa55word");
    let mut reg = Registration::new(mra.sip, "1002");
    let ok = reg.register("pa55word", Algorithm::Sha256, 2);
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert!(
        ok.headers("Contact")[0].ends_with(";expires=2"),
        "{}",
        ok.text
    );
    assert!(
        !ok.headers("Date").is_empty(),
        "rooms set their clocks from Date"
    );
    assert_eq!(mra.room("1002")["status"], "online");
    mra.wait_room("1002", "expiry", |r| r["status"] == "unregistered");
}

fn wrong_passwords_get_401_like_unknown_users_then_the_address_is_locked_out(db: Db) {
    let (mra, _pg) = db.start(&[("MRA_REGISTRAR_LOCKOUT_FAILURES", "3")]);
    mra.add_room("1001", "s3cret");
    let mut known = Registration::new(mra.sip, "1001");
    let mut unknown = Registration::new(mra.sip, "9999");
    let shape = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| !l.starts_with(['V', 'F', 'T', 'C'])) // Via, From, To, Call-ID, CSeq: per request
            .map(|l| l.split("nonce=").next().unwrap().to_owned())
            .collect()
    };
    let ch = known.send(600, None).challenge(Algorithm::Md5).unwrap();
    let a = known.send(600, Some(&known.answer(&ch, "guess", 1)));
    let ch = unknown.send(600, None).challenge(Algorithm::Md5).unwrap();
    let b = unknown.send(600, Some(&unknown.answer(&ch, "guess", 1)));
    assert_eq!((a.status, b.status), (401, 401));
    assert_eq!(
        shape(&a.text),
        shape(&b.text),
        "unknown and known users answered alike"
    );
    let ch = known.send(600, None).challenge(Algorithm::Md5).unwrap();
    assert_eq!(
        known
            .send(600, Some(&known.answer(&ch, "guess2", 1)))
            .status,
        401
    );
    // Three failures: now this address gets no challenge, only refusals.
    let locked = known.send(600, None);
    assert_eq!(locked.status, 403, "{}", locked.text);
    assert!(!locked.headers("Retry-After").is_empty());
    assert_eq!(mra.metric("mra_registration_lockouts_total"), 1);
    assert_eq!(mra.metric("mra_registration_auth_failures_total"), 3);
    assert_eq!(mra.room("1001")["status"], "unregistered");
}

fn a_replayed_nonce_count_and_a_foreign_domain_are_refused(db: Db) {
    let (mra, _pg) = db.start(&[]);
    mra.add_room("1001", "s3cret");
    let mut reg = Registration::new(mra.sip, "1001");
    let ch = reg.send(600, None).challenge(Algorithm::Md5).unwrap();
    let auth = reg.answer(&ch, "s3cret", 1);
    assert_eq!(reg.send(600, Some(&auth)).status, 200);
    let replay = reg.send(600, Some(&auth));
    assert_eq!(replay.status, 401, "{}", replay.text);
    assert!(replay.challenge(Algorithm::Md5).unwrap().stale);
    assert_eq!(
        reg.send(600, Some(&reg.answer(&ch, "s3cret", 2))).status,
        200
    );
    assert_eq!(mra.metric("mra_registration_replays_total"), 1);
    let mut foreign = Registration::new(mra.sip, "1001");
    foreign.domain = "example.com".into();
    let refused = foreign.send(600, None);
    assert_eq!(refused.status, 403, "{}", refused.text);
}

fn too_short_an_expiry_gets_423_and_star_unregisters(db: Db) {
    let (mra, _pg) = db.start(&[]);
    mra.add_room("1001", "s3cret");
    let mut reg = Registration::new(mra.sip, "1001");
    let brief = reg.register("s3cret", Algorithm::Md5, 10);
    assert_eq!(brief.status, 423, "{}", brief.text);
    assert_eq!(brief.headers("Min-Expires"), ["60"]);
    assert_eq!(reg.register("s3cret", Algorithm::Md5, 600).status, 200);
    assert_eq!(mra.room("1001")["status"], "online");
    assert_eq!(reg.register("s3cret", Algorithm::Md5, 0).status, 200);
    assert_eq!(mra.room("1001")["status"], "unregistered");
}

fn a_restart_keeps_bindings(db: Db) {
    let (mut mra, _pg) = db.start(&[]);
    mra.add_room("1003", "s3cret");
    let mut reg = Registration::new(mra.sip, "1003");
    assert_eq!(reg.register("s3cret", Algorithm::Md5, 600).status, 200);
    let before = mra.room("1003");
    mra.restart();
    let after = mra.room("1003");
    assert_eq!(after["status"], "online");
    assert_eq!(
        after["contacts"][0]["contact"],
        before["contacts"][0]["contact"]
    );
}

fn baresip_registers_with_digest(db: Db) {
    common::isolate_network();
    let (mra, _pg) = db.start(&[]);
    mra.add_room("2001", "b4resip");
    let baresip = Baresip::registered("2001", "b4resip", mra.sip, Source::Sine(440));
    let registered = |r: &Value| r["status"] == "online";
    let what = format!("baresip's registration (its log: {})", baresip.log());
    let r = mra.wait_room("2001", &what, registered);
    assert!(
        r["user_agent"].as_str().unwrap_or("").contains("baresip"),
        "{r}"
    );
}

fn keepalives_mark_a_registered_room_online_then_offline_when_it_goes_silent(db: Db) {
    common::isolate_network();
    let (mra, _pg) = db.start(&[("MRA_REGISTRAR_KEEPALIVE_INTERVAL_SECS", "1")]);
    mra.add_room("2002", "b4resip");
    let baresip = Baresip::registered("2002", "b4resip", mra.sip, Source::Sine(440));
    let online = |r: &Value| r["status"] == "online" && r["contacts"][0]["reachable"] == true;
    mra.wait_room("2002", "an answered keepalive", online);
    assert!(mra.metric("mra_keepalives_answered_total") >= 1);
    // Killed: no unregistration, its binding stays but nobody answers.
    drop(baresip);
    let offline = mra.wait_room("2002", "the room going offline", |r| {
        r["status"] == "offline"
    });
    assert_eq!(offline["contacts"][0]["reachable"], false);
    assert!(mra.metric("mra_keepalives_unanswered_total") >= 1);
}

/// The final response to a room calling from `user` with a clear offer
/// of audio and H.264 of no bandwidth of its own (the IVR answers at
/// once).
fn answer_to_a_clear_call(mra: &Mra, user: &str) -> String {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let at = sock.local_addr().unwrap();
    let sdp = "v=0\r\no=room 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio 6000 RTP/AVP 0\r\nm=video 6002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
         a=fmtp:96 profile-level-id=42e01f;packetization-mode=1\r\n";
    let invite = format!(
        "INVITE sip:{to} SIP/2.0\r\nVia: SIP/2.0/UDP {at};branch=z9hG4bK-rate-{user}\r\n\
         From: <sip:{user}@{at}>;tag=room\r\nTo: <sip:{to}>\r\nCall-ID: rate-{user}@room\r\n\
         CSeq: 1 INVITE\r\nContact: <sip:{user}@{at}>\r\nMax-Forwards: 70\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len(),
        to = mra.sip,
    );
    sock.send_to(invite.as_bytes(), mra.sip).unwrap();
    let mut buf = [0u8; 65536];
    loop {
        let (n, _) = sock.recv_from(&mut buf).expect("an answer to the INVITE");
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        if !msg.starts_with("SIP/2.0 1") {
            return msg;
        }
    }
}

/// The `b=AS` of the video answered to a clear call from `user`.
fn answered_video_bandwidth(mra: &Mra, user: &str) -> String {
    let ok = answer_to_a_clear_call(mra, user);
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}");
    let video = ok.split("m=video").nth(1).expect("video answered");
    video
        .lines()
        .find(|l| l.starts_with("b=AS:"))
        .unwrap_or_else(|| panic!("no b=AS in {ok}"))
        .to_owned()
}

fn a_rooms_own_encryption_policy_is_kept_and_refuses_its_clear_calls(db: Db) {
    let (mut mra, _pg) = db.start(&[]);
    let (code, body) = mra.http(
        "POST",
        "/api/v1/rooms",
        Some(r#"{"user":"1005","password":"s3cret","encryption":"required"}"#),
    );
    assert_eq!(code, 201, "{body}");
    assert_eq!(mra.room("1005")["encryption"], "required");
    let policy = |user: &str, value: &str| {
        mra.http(
            "PUT",
            &format!("/api/v1/rooms/{user}/encryption"),
            Some(&format!(r#"{{"encryption":{value}}}"#)),
        )
    };
    assert_eq!(policy("1005", r#""sometimes""#).0, 400);
    assert_eq!(policy("nobody", "null").0, 404);
    assert_eq!(policy("1005", "null").0, 200);
    assert_eq!(mra.room("1005")["encryption"], Value::Null);
    assert_eq!(policy("1005", r#""required""#).0, 200);
    // A meeting can require it, not loosen it.
    let (code, body) = mra.http(
        "POST",
        "/api/v1/meetings",
        Some(r#"{"number":"123456789"}"#),
    );
    assert_eq!(code, 201, "{body}");
    let meeting = |value: &str| {
        mra.http(
            "PUT",
            "/api/v1/meetings/123456789/encryption",
            Some(&format!(r#"{{"encryption":{value}}}"#)),
        )
    };
    let (code, body) = meeting(r#""off""#);
    assert_eq!(code, 400, "{body}");
    assert_eq!(meeting(r#""required""#).0, 200);

    // Kept across a restart; the room's clear call is refused, another
    // room's is taken.
    mra.restart();
    assert_eq!(mra.room("1005")["encryption"], "required");
    let refused = answer_to_a_clear_call(&mra, "1005");
    assert!(refused.starts_with("SIP/2.0 488"), "{refused}");
    assert!(refused.contains("Warning: 399"), "{refused}");
    let taken = answer_to_a_clear_call(&mra, "2002");
    assert!(taken.starts_with("SIP/2.0 200"), "{taken}");
}

fn a_rooms_own_call_rate_is_kept_and_caps_the_video_of_its_calls(db: Db) {
    let (mut mra, _pg) = db.start(&[("MRA_MEDIA_MAX_CALL_RATE_KBPS", "2048")]);
    let (code, body) = mra.http(
        "POST",
        "/api/v1/rooms",
        Some(r#"{"user":"1004","password":"s3cret","max_call_rate_kbps":512}"#),
    );
    assert_eq!(code, 201, "{body}");
    assert_eq!(mra.room("1004")["max_call_rate_kbps"], 512);
    let rate = |kbps: &str| {
        mra.http(
            "PUT",
            "/api/v1/rooms/1004/call-rate",
            Some(&format!(r#"{{"max_call_rate_kbps":{kbps}}}"#)),
        )
    };
    let (code, body) = rate("50");
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("max_call_rate_kbps"), "{body}");
    let (code, body) = rate("null");
    assert_eq!(code, 200, "{body}");
    assert_eq!(mra.room("1004")["max_call_rate_kbps"], Value::Null);
    assert_eq!(rate("768").0, 200);
    assert_eq!(
        mra.http("PUT", "/api/v1/rooms/nobody/call-rate", Some("{}"))
            .0,
        404
    );

    // Kept across a restart, and what the room's calls are answered
    // with from the first one on; other rooms get the installation's.
    mra.restart();
    assert_eq!(mra.room("1004")["max_call_rate_kbps"], 768);
    assert_eq!(answered_video_bandwidth(&mra, "1004"), "b=AS:704");
    assert_eq!(answered_video_bandwidth(&mra, "2002"), "b=AS:1984");
}
