//! One media hub per meeting per node, checked on what real peers report:
//! twenty SIP rooms (SIPp and baresip) and a browser in one meeting share
//! one gateway session with the meeting service (read from /metrics), the
//! browser's roster lists every room by name, sampled rooms decode the
//! browser's tone and another room's, and muting a room shows on the page;
//! a room joining and another leaving do not interrupt what a third room
//! hears. Each test runs in a network namespace of its own with only
//! loopback.

mod common;

use std::time::Duration;

use common::baresip::{Baresip, Source};
use common::browser::Browsers;
use common::{isolate_network, sipp, wav, Mra};

const MEETING: &str = "123456789";

/// Ann, in a browser whose microphone plays 880 Hz (no room sends it, and
/// it is no product of the rooms' tones should the mix clip), joins the
/// meeting; the directory holding her microphone's file comes back too.
fn ann_in_the_meeting(mra: &Mra, password: &str) -> (Browsers, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let microphone = dir.path().join("880.wav");
    wav::write_tones(&microphone, &[(&[880.0], 60.0)]);
    let mut browsers = Browsers::start();
    browsers.open("ann", &format!("http://{}/", mra.web), Some(&microphone));
    browsers.join("ann", MEETING, password, "Ann").unwrap();
    (browsers, dir)
}

/// How many packets we have sent to the room named `name`.
fn sent_to(calls: &[serde_json::Value], name: &str) -> u64 {
    calls
        .iter()
        .find(|c| c["display_name"] == name)
        .and_then(|c| c["media"]["packets_sent"].as_u64())
        .unwrap_or(0)
}

/// Waits until the room named `name` has been sent `more` packets (20 ms
/// each) beyond what it had; returns its count then.
fn wait_sent(mra: &Mra, name: &str, more: u64) -> u64 {
    let (_, body) = mra.http("GET", "/api/v1/calls", None);
    let calls: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap_or_default();
    let target = sent_to(&calls, name) + more;
    let calls = mra.wait_calls(&format!("{more} more packets to {name}"), |c| {
        sent_to(c, name) >= target
    });
    sent_to(&calls, name)
}

/// Waits until `n` calls are in the meeting.
fn wait_in_meeting(mra: &Mra, n: usize) -> Vec<serde_json::Value> {
    mra.wait_calls(&format!("{n} rooms in the meeting"), |c| {
        c.iter().filter(|c| c["state"] == "in-meeting").count() == n
    })
}

#[test]
fn twenty_rooms_share_one_session_with_the_meeting() {
    isolate_network();
    // Two ports per room, more than the usual test range; the namespace is
    // this test's own.
    let mut mra = Mra::start_with(&[
        ("MRA_MEDIA_PORT_MIN", "40000"),
        ("MRA_MEDIA_PORT_MAX", "40199"),
    ]);
    mra.create_meeting(MEETING, Some("4321"));
    let (mut browsers, _microphone) = ann_in_the_meeting(&mra, "4321");

    // Seventeen rooms from SIPp (they wait for our BYE), three baresip
    // rooms sending tones and recording what they hear.
    let sip = mra.sip;
    let sipp_rooms = std::thread::spawn(move || {
        let service = format!("{MEETING}**4321");
        let extra = ["-m", "17", "-l", "17", "-r", "20", "-timeout", "180s"];
        sipp("uac_join_wait_bye.xml", &service, sip, &extra)
    });
    let tones = [("Boardroom", 440), ("Huddle", 700), ("Lab", 1000)];
    let mut rooms: Vec<Baresip> = tones
        .iter()
        .map(|&(name, hz)| {
            let mut room = Baresip::start(name, Source::Sine(hz), Some("PCMU"));
            room.dial(&format!("sip:{MEETING}**4321@{sip}"));
            room
        })
        .collect();
    let calls = wait_in_meeting(&mra, 20);

    let roster = browsers.wait(
        "all twenty rooms on the browser's page",
        |b| b.tiles("ann"),
        |t| t.iter().filter(|t| t["kind"] == "room").count() == 20,
    );
    for (name, _) in tones {
        assert!(
            roster.iter().any(|t| t["name"] == name),
            "{name}: {roster:?}"
        );
    }
    for n in 1..=17 {
        let name = format!("SIPp Room {n}");
        assert!(
            roster.iter().any(|t| t["name"] == name.as_str()),
            "{name}: {roster:?}"
        );
    }

    assert_eq!(
        mra.metric("mra_media_meeting_hubs"),
        1,
        "one hub for the meeting"
    );
    assert_eq!(
        mra.metric("mra_media_peer_connections"),
        2,
        "one pair, not forty"
    );
    assert_eq!(mra.metric("mra_meeting_gateway_sessions"), 1);
    assert_eq!(
        mra.metric("mra_meeting_participant_sessions"),
        1,
        "the browser"
    );
    assert_eq!(
        mra.metric("mra_meeting_peer_connections"),
        4,
        "the service holds two for the gateway and two for the browser"
    );

    // An operator mutes the Lab: the browser sees it.
    let lab = calls
        .iter()
        .find(|c| c["display_name"] == "Lab")
        .unwrap_or_else(|| panic!("the Lab's call: {calls:?}"));
    let id = lab["id"].as_u64().unwrap();
    let (status, _) = mra.http(
        "PATCH",
        &format!("/api/v1/calls/{id}"),
        Some(r#"{"muted": true}"#),
    );
    assert_eq!(status, 200);
    browsers.wait(
        "the page showing the Lab muted",
        |b| b.tiles("ann"),
        |t| {
            t.iter()
                .any(|t| t["name"] == "Lab" && t["audio_muted"] == true)
        },
    );

    // Every room hears the browser and the nineteen other rooms; three
    // seconds more of audio, then everyone hangs up.
    mra.wait_calls("every room hearing twenty participants", |c| {
        c.len() == 20 && c.iter().all(|c| c["media"]["meeting_streams"] == 20)
    });
    wait_sent(&mra, "Boardroom", 150);
    for room in &mut rooms {
        room.command("hangup", "");
        room.wait_event("CALL_CLOSED", Duration::from_secs(10));
    }
    let recordings: Vec<wav::Recording> = rooms.iter().map(|r| wav::read(&r.decoded())).collect();
    // Each room hears the browser (through the meeting service) and the
    // other rooms (through the node's mix), not itself; the Lab is muted
    // for the others, not deaf.
    let names = ["the Boardroom", "the Huddle", "the Lab"];
    for (i, recording) in recordings.iter().enumerate() {
        recording.assert_tone(names[i], 880.0);
    }
    recordings[0].assert_hears("the Boardroom", &[700.0], 440.0);
    recordings[1].assert_hears("the Huddle", &[440.0], 700.0);
    recordings[2].assert_hears("the Lab", &[440.0, 700.0], 1000.0);
    let boardroom = recordings[0].tail();
    assert!(
        recordings[0].share(boardroom, 1000.0) < 0.02,
        "nobody hears the muted Lab"
    );
    assert!(mra.sigterm().success());
    let (ok, out) = sipp_rooms.join().unwrap();
    assert!(ok, "SIPp rooms: {out}");
}

#[test]
fn rooms_coming_and_going_do_not_interrupt_the_others() {
    isolate_network();
    let mra = Mra::start();
    mra.create_meeting(MEETING, None);
    let (_browsers, _microphone) = ann_in_the_meeting(&mra, "");
    let sip = mra.sip;
    let mut talker = Baresip::start("Talker", Source::Sine(440), Some("PCMU"));
    talker.dial(&format!("sip:{MEETING}@{sip}"));
    let mut listener = Baresip::start("Listener", Source::Sine(1000), Some("PCMU"));
    listener.dial(&format!("sip:{MEETING}@{sip}"));
    let leaving =
        std::thread::spawn(move || sipp("uac_join.xml", MEETING, sip, &["-m", "1", "-d", "4000"]));
    // The listener hears the browser, the talker and the leaving room, two
    // seconds of it, before anything changes.
    let ready = mra.wait_calls("the listener hearing three participants", |c| {
        c.len() == 3
            && c.iter()
                .any(|c| c["display_name"] == "Listener" && c["media"]["meeting_streams"] == 3)
    });
    // Seconds into the listener's recording when all three were there.
    let from = sent_to(&ready, "Listener") as f64 / 50.0 + 0.5;
    wait_sent(&mra, "Listener", 100);
    let (ok, out) = sipp("uac_join.xml", MEETING, sip, &["-m", "1", "-d", "3000"]);
    assert!(ok, "the room that joins and leaves: {out}");
    let (ok, out) = leaving.join().unwrap();
    assert!(ok, "the room that leaves: {out}");
    wait_sent(&mra, "Listener", 50);
    listener.command("hangup", "");
    listener.wait_event("CALL_CLOSED", Duration::from_secs(10));
    let recording = wav::read(&listener.decoded());
    recording.assert_tone("the listener", 880.0);
    recording.assert_tone("the listener", 440.0);
    // From when both tones flowed to just before hang-up.
    let heard = recording.window(from, recording.seconds() - 0.3);
    for (tone, path) in [
        (440.0, "a room on the same node"),
        (880.0, "the browser, through the meeting service"),
    ] {
        let gap = recording.longest_gap(heard, tone);
        assert!(
            gap <= 0.06,
            "{tone} Hz from {path}: a gap of {:.0} ms over {:.1} s",
            gap * 1000.0,
            heard.len() as f64 / f64::from(recording.rate)
        );
    }
}
