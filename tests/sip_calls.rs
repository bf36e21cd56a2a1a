//! End-to-end SIP calls against a real `mra run`, driven by SIPp.

mod common;

use common::{sipp, Mra};

#[test]
fn dial_string_with_password_joins_over_udp_and_tcp() {
    let mra = Mra::start();
    mra.create_meeting("123456789", Some("4321"));
    for transport in ["u1", "t1"] {
        let (ok, out) = sipp(
            "uac_join.xml",
            "123456789**4321",
            mra.sip,
            &["-t", transport, "-m", "5", "-r", "10"],
        );
        assert!(
            ok,
            "SIPp over {transport} failed:\n{out}\nmra log:\n{}",
            mra.log()
        );
    }
    assert_eq!(mra.metric("mra_calls_admitted_total"), 10);
    assert_eq!(
        mra.http("GET", "/api/v1/calls", None).1,
        "[]",
        "every call ended"
    );
}

#[test]
fn other_dial_string_forms_join() {
    let mra = Mra::start();
    mra.create_meeting("555000", Some("77"));
    mra.create_meeting("555001", None);
    for service in ["555000.77", "555000$$77", "555001"] {
        let (ok, out) = sipp("uac_join.xml", service, mra.sip, &["-m", "1"]);
        assert!(ok, "{service}: {out}");
    }
    assert_eq!(mra.metric("mra_calls_admitted_total"), 3);
}

#[test]
fn wrong_password_three_times_ends_with_403() {
    let mra = Mra::start();
    mra.create_meeting("123456789", Some("4321"));
    let (ok, out) = sipp(
        "uac_wrong_password.xml",
        "123456789**1111",
        mra.sip,
        &["-m", "1"],
    );
    assert!(ok, "{out}\nmra log:\n{}", mra.log());
    assert_eq!(mra.metric("mra_calls_admitted_total"), 0);
    assert_eq!(mra.metric("mra_calls_refused_total"), 1);
}

#[test]
fn ivr_takes_rfc4733_digits_from_a_room_that_dialed_just_the_gateway() {
    let mra = Mra::start();
    mra.create_meeting("2468", Some("1357"));
    let (ok, out) = sipp("uac_ivr_rfc4733.xml", "", mra.sip, &["-m", "1"]);
    assert!(ok, "{out}\nmra log:\n{}", mra.log());
    assert_eq!(mra.metric("mra_calls_admitted_total"), 1, "{}", mra.log());
}

#[test]
fn re_invite_holds_and_resumes() {
    let mra = Mra::start();
    mra.create_meeting("123456789", None);
    let (ok, out) = sipp("uac_hold.xml", "123456789", mra.sip, &["-m", "1"]);
    assert!(ok, "{out}\nmra log:\n{}", mra.log());
}

#[test]
fn options_ping_lists_allowed_methods() {
    let mra = Mra::start();
    for transport in ["u1", "t1"] {
        let (ok, out) = sipp(
            "uac_options.xml",
            "",
            mra.sip,
            &["-t", transport, "-m", "2"],
        );
        assert!(ok, "{transport}: {out}");
    }
}

#[test]
fn sigterm_hangs_up_active_calls() {
    let mut mra = Mra::start();
    mra.create_meeting("123456789", None);
    let sip = mra.sip;
    // A room joins and waits for our BYE.
    let room =
        std::thread::spawn(move || sipp("uac_join_wait_bye.xml", "123456789", sip, &["-m", "1"]));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !mra
        .http("GET", "/api/v1/calls", None)
        .1
        .contains("in-meeting")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "room never joined: {}",
            mra.log()
        );
        std::thread::yield_now();
    }
    assert!(mra.sigterm().success());
    let (ok, out) = room.join().unwrap();
    assert!(ok, "room did not get a BYE: {out}");
}
