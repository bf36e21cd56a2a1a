//! A meeting calls rooms out (`POST /api/v1/meetings/{n}/invite`): a
//! registered baresip that answers by itself joins the meeting like a
//! dial-in — checked on what the rooms decoded — and hangs up like one;
//! refusals for what cannot be called.

mod common;

use std::time::Duration;

use common::baresip::{Baresip, Source};
use common::wav;
use common::Mra;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(15);

#[test]
fn a_registered_room_is_called_into_the_meeting_and_hears_the_room_already_there() {
    common::isolate_network();
    let mra = Mra::start();
    mra.create_meeting("123456789", None);
    mra.add_room("2001", "b4resip");
    let mut called = Baresip::registered("2001", "b4resip", mra.sip, Source::Sine(440));
    mra.wait_room("2001", "registration", |r| r["status"] == "online");
    let mut dialer = Baresip::start("dialer", Source::Sine(1000), None);
    dialer.dial(&format!("sip:123456789@{}", mra.sip));
    mra.wait_calls("the dial-in", |c| {
        c.len() == 1 && c[0]["state"] == "in-meeting"
    });

    let (status, body) = mra.http(
        "POST",
        "/api/v1/meetings/123456789/invite",
        Some(r#"{"room": "2001"}"#),
    );
    assert_eq!(status, 202, "{body}");
    let call = serde_json::from_str::<Value>(&body).unwrap()["call"].clone();
    let calls = mra.wait_calls("both rooms in the meeting, hearing each other", |c| {
        c.len() == 2
            && c.iter()
                .all(|c| c["state"] == "in-meeting" && c["media"]["meeting_streams"] == 1)
    });
    let out = calls
        .iter()
        .find(|c| c["id"] == call)
        .expect("the call-out");
    assert_eq!(out["display_name"], "Room 2001");
    assert_eq!(out["meeting"], "123456789");
    let base: Vec<u64> = calls
        .iter()
        .map(|c| c["media"]["packets_received"].as_u64().unwrap_or(0))
        .collect();
    mra.wait_calls("three seconds of audio together", |c| {
        c.len() == 2
            && c.iter()
                .zip(&base)
                .all(|(c, b)| c["media"]["packets_received"].as_u64().unwrap_or(0) >= b + 150)
    });
    // The called room hangs up like any room; then the dialer.
    called.command("hangup", "");
    called.wait_event("CALL_CLOSED", WAIT);
    mra.wait_calls("the called room gone", |c| c.len() == 1);
    dialer.command("hangup", "");
    dialer.wait_event("CALL_CLOSED", WAIT);
    mra.wait_calls("every call ended", |c| c.is_empty());
    wav::read(&called.decoded()).assert_hears("the called room", &[1000.0], 440.0);
    wav::read(&dialer.decoded()).assert_hears("the dialing room", &[440.0], 1000.0);
}

#[test]
fn what_cannot_be_called_is_refused() {
    let mra = Mra::start();
    mra.create_meeting("123456789", None);
    mra.add_room("2001", "b4resip");
    let invite = |meeting: &str, body: &str| {
        mra.http(
            "POST",
            &format!("/api/v1/meetings/{meeting}/invite"),
            Some(body),
        )
    };
    assert_eq!(invite("999", r#"{"room": "2001"}"#).0, 404);
    assert_eq!(invite("123456789", r#"{"room": "nobody"}"#).0, 404);
    let (status, body) = invite("123456789", r#"{"room": "2001"}"#);
    assert_eq!(status, 409, "not registered: {body}");
    assert_eq!(
        invite("123456789", r#"{"uri": "sip:room@example.com"}"#).0,
        400
    );
    assert_eq!(
        invite("123456789", r#"{"room": "2001", "uri": "sip:a@127.0.0.1"}"#).0,
        400
    );
}

#[test]
fn a_room_registered_over_tcp_is_called_over_its_own_connection() {
    let mra = Mra::start();
    mra.create_meeting("123456789", None);
    mra.add_room("3001", "s3cret");
    let answer = common::manifest_dir().join("tests/sipp/answer_call.xml");
    let sip = mra.sip;
    // Registers over TCP, then stays six seconds answering calls: the
    // gateway cannot open connections to rooms, so the call can only
    // arrive over the room's own connection.
    let room = std::thread::spawn(move || {
        common::sipp(
            "register_digest.xml",
            "3001",
            sip,
            &[
                "-t",
                "t1",
                "-m",
                "1",
                "-au",
                "3001",
                "-ap",
                "s3cret",
                "-d",
                "6000",
                "-oocsf",
                answer.to_str().unwrap(),
            ],
        )
    });
    mra.wait_room("3001", "the TCP registration", |r| {
        r["status"] == "online" && r["contacts"][0]["transport"] == "tcp"
    });
    let (status, body) = mra.http(
        "POST",
        "/api/v1/meetings/123456789/invite",
        Some(r#"{"room": "3001"}"#),
    );
    assert_eq!(status, 202, "{body}");
    let calls = mra.wait_calls("the room answering over TCP", |c| {
        c.len() == 1 && c[0]["state"] == "in-meeting"
    });
    assert_eq!(calls[0]["transport"], "TCP");
    assert_eq!(calls[0]["codec"], "PCMU/8000");
    let (ok, out) = room.join().unwrap();
    assert!(ok, "{out}");
}
