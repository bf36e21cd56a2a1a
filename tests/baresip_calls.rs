//! End-to-end calls from a real SIP user agent (baresip): the IVR driven by
//! RFC 4733 digits, hang-up from the room, and refusal after three wrong
//! passwords as the room sees it.

mod common;

use std::time::Duration;

use common::baresip::{Baresip, Source};
use common::Mra;

const WAIT: Duration = Duration::from_secs(15);

#[test]
fn room_keys_number_and_password_by_rfc4733_into_the_meeting() {
    let mra = Mra::start();
    mra.create_meeting("123456789", Some("4321"));
    let mut room = Baresip::start("boardroom", Source::Sine(440), None);
    room.dial(&format!("sip:0@{}", mra.sip));
    mra.wait_calls("IVR answer", |c| c.len() == 1 && c[0]["state"] == "ivr");
    room.command("sndcode", "123456789#");
    room.command("sndcode", "4321#");
    let calls = mra.wait_calls("joining", |c| c.len() == 1 && c[0]["state"] == "in-meeting");
    assert_eq!(calls[0]["meeting"], "123456789");
    assert_eq!(calls[0]["display_name"], "boardroom");
    room.command("hangup", "");
    room.wait_event("CALL_CLOSED", WAIT);
    mra.wait_calls("hang-up", |c| c.is_empty());
    assert_eq!(mra.metric("mra_calls_admitted_total"), 1);
}

#[test]
fn three_wrong_passwords_close_the_rooms_call() {
    let mra = Mra::start();
    mra.create_meeting("123456789", Some("4321"));
    let mut room = Baresip::start("boardroom", Source::Sine(440), None);
    room.dial(&format!("sip:123456789**1111@{}", mra.sip));
    room.command("sndcode", "2222#");
    room.command("sndcode", "3333#");
    let closed = room.wait_event("CALL_CLOSED", WAIT);
    assert_eq!(
        closed["param"], "Connection reset by peer",
        "the gateway sent BYE: {closed}"
    );
    mra.wait_calls("hang-up", |c| c.is_empty());
    assert_eq!(mra.metric("mra_calls_refused_total"), 1);
}
