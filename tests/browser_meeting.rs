//! Browsers in the embedded meeting service, checked on what headless
//! Chromium itself reports (getStats, the page's tiles and messages) and
//! what a real SIP room decodes: two browsers receive each other's audio
//! and video through the SFU; a baresip room and a browser hear each other
//! (the room through its meeting hub), and an operator's mute shows on
//! the page; the active speaker is highlighted; a wrong password is refused on
//! the page; leaving removes the tile elsewhere. Each test runs in a
//! network namespace of its own with only loopback.

mod common;

use std::path::PathBuf;

use common::baresip::{Baresip, Source};
use common::browser::{from, microphone, page, tile_id, Browsers};
use common::{isolate_network, wav, Mra};
use serde_json::Value;

fn receives_audio_and_video(inbound: &[Value], participant: &str) -> bool {
    let audio = from(inbound, participant, "audio");
    let video = from(inbound, participant, "video");
    audio.is_some_and(|a| {
        a["packetsReceived"].as_u64() > Some(50) && a["audioLevel"].as_f64() > Some(0.0)
    }) && video.is_some_and(|v| v["framesDecoded"].as_u64() > Some(10))
}

#[test]
fn two_browsers_receive_each_others_audio_and_video() {
    isolate_network();
    let mra = Mra::start();
    mra.create_meeting("123456789", Some("4321"));
    let dir = tempfile::tempdir().unwrap();
    let mut browsers = Browsers::start();
    browsers.open("ann", &page(&mra), Some(&microphone(&dir, 660.0)));
    browsers.open("bob", &page(&mra), Some(&microphone(&dir, 880.0)));
    browsers.join("ann", "123456789", "4321", "Ann").unwrap();
    browsers.join("bob", "123456789", "4321", "Bob").unwrap();
    let bob = tile_id(&mut browsers, "ann", "Bob");
    let ann = tile_id(&mut browsers, "bob", "Ann");
    browsers.wait(
        "Ann receiving Bob's audio and video",
        |b| b.inbound("ann"),
        |s| receives_audio_and_video(s, &bob),
    );
    browsers.wait(
        "Bob receiving Ann's audio and video",
        |b| b.inbound("bob"),
        |s| receives_audio_and_video(s, &ann),
    );
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("meeting-two-browsers.png");
    browsers.screenshot("ann", &shot);
    assert_eq!(
        browsers.console("ann"),
        Value::Array(vec![]),
        "no page errors"
    );
}

#[test]
fn a_room_and_a_browser_hear_each_other() {
    isolate_network();
    let mra = Mra::start();
    mra.create_meeting("123456789", Some("4321"));
    let dir = tempfile::tempdir().unwrap();
    let mut browsers = Browsers::start();
    browsers.open("ann", &page(&mra), Some(&microphone(&dir, 880.0)));
    browsers.join("ann", "123456789", "4321", "Ann").unwrap();
    let mut room = Baresip::start("boardroom", Source::Sine(440), Some("PCMU"));
    room.dial(&format!("sip:123456789**4321@{}", mra.sip));
    let tile = tile_id(&mut browsers, "ann", "boardroom");
    let tiles = browsers.tiles("ann");
    let room_tile = tiles.iter().find(|t| t["id"] == tile.as_str()).unwrap();
    assert_eq!(room_tile["kind"], "room", "{tiles:?}");
    let heard = browsers.wait(
        "the browser receiving the room's audio",
        |b| b.inbound("ann"),
        |s| {
            from(s, &tile, "audio").is_some_and(|a| {
                a["packetsReceived"].as_u64() > Some(100) && a["audioLevel"].as_f64() > Some(0.0)
            })
        },
    );
    let calls = mra.wait_calls("the room hearing the meeting for three seconds", |c| {
        c.len() == 1
            && c[0]["media"]["meeting_streams"] == 1
            && c[0]["media"]["packets_sent"].as_u64() > Some(250)
    });
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("meeting-with-a-room.png");
    browsers.screenshot("ann", &shot);
    let call = calls[0]["id"].as_u64().unwrap();
    let (status, _) = mra.http(
        "PATCH",
        &format!("/api/v1/calls/{call}"),
        Some(r#"{"muted": true}"#),
    );
    assert_eq!(status, 200);
    browsers.wait(
        "the page showing the room muted by the operator",
        |b| b.tiles("ann"),
        |t| {
            t.iter()
                .any(|t| t["id"] == tile.as_str() && t["audio_muted"] == true)
        },
    );
    room.command("hangup", "");
    room.wait_event("CALL_CLOSED", std::time::Duration::from_secs(10));
    let recording = wav::read(&room.decoded());
    let end = recording.seconds() - 0.3;
    let tail = recording.window(end - 2.0, end);
    assert!(
        recording.share(tail, 880.0) > 0.5,
        "the room hears the browser's 880 Hz: share {:.3}, strongest {} Hz; browser stats {heard:?}, call {calls:?}",
        recording.share(tail, 880.0),
        recording.peak(tail)
    );
    assert!(recording.share(tail, 440.0) < 0.02, "and not itself");
}

#[test]
fn a_speaking_room_is_highlighted_as_the_active_speaker() {
    isolate_network();
    let mra = Mra::start();
    mra.create_meeting("555", None);
    let dir = tempfile::tempdir().unwrap();
    let silence = dir.path().join("silence.wav");
    wav::write_tones(&silence, &[(&[], 60.0)]);
    let mut browsers = Browsers::start();
    browsers.open("ann", &page(&mra), Some(&silence));
    browsers.join("ann", "555", "", "Ann").unwrap();
    let mut room = Baresip::start("boardroom", Source::Sine(440), Some("opus/48000/2"));
    room.dial(&format!("sip:555@{}", mra.sip));
    let tile = tile_id(&mut browsers, "ann", "boardroom");
    let tiles = browsers.wait(
        "the room's tile highlighted as the speaker",
        |b| b.tiles("ann"),
        |t| {
            t.iter()
                .any(|t| t["id"] == tile.as_str() && t["speaking"] == true)
        },
    );
    assert!(
        tiles
            .iter()
            .all(|t| t["id"] == tile.as_str() || t["speaking"] == false),
        "only the room speaks: {tiles:?}"
    );
}

#[test]
fn a_wrong_password_is_refused_on_the_page() {
    isolate_network();
    let mra = Mra::start();
    mra.create_meeting("123456789", Some("4321"));
    let mut browsers = Browsers::start();
    browsers.open("eve", &page(&mra), None);
    let refused = browsers.join("eve", "123456789", "1111", "Eve");
    assert_eq!(refused, Err("Wrong meeting password".to_owned()));
    let unknown = browsers.join("eve", "555", "", "Eve");
    assert_eq!(unknown, Err("Meeting not found".to_owned()));
    browsers.join("eve", "123456789", "4321", "Eve").unwrap();
}

#[test]
fn the_page_is_served_over_https_with_a_generated_certificate() {
    use std::os::unix::fs::PermissionsExt;
    isolate_network();
    let mra = Mra::start_with(&[("MRA_WEB_TLS", "true")]);
    mra.create_meeting("123456789", Some("4321"));
    let key = mra.dir.path().join("meeting-key.pem");
    assert!(mra.dir.path().join("meeting-cert.pem").exists());
    let mode = std::fs::metadata(&key).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the private key is the owner's only");
    let mut browsers = Browsers::start();
    browsers.open("ann", &format!("https://{}/", mra.web), None);
    assert_eq!(
        browsers.join("ann", "123456789", "1", "Ann"),
        Err("Wrong meeting password".to_owned()),
        "signaling works over wss"
    );
    browsers.join("ann", "123456789", "4321", "Ann").unwrap();
}

#[test]
fn leaving_removes_the_tile_from_the_other_page() {
    isolate_network();
    let mra = Mra::start();
    mra.create_meeting("777", None);
    let mut browsers = Browsers::start();
    browsers.open("ann", &page(&mra), None);
    browsers.open("bob", &page(&mra), None);
    browsers.join("ann", "777", "", "Ann").unwrap();
    browsers.join("bob", "777", "", "Bob").unwrap();
    tile_id(&mut browsers, "ann", "Bob");
    browsers.click("bob", "#leave");
    browsers.wait(
        "Bob's tile leaving Ann's page",
        |b| b.tiles("ann"),
        |t| t.len() == 1 && t[0]["name"] == "Ann (you)",
    );
}
