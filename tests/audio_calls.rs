//! Rooms hear each other through the gateway, checked on what real peers
//! decoded: baresip rooms send a tone each (ausine, or a WAV through
//! aufile) and record what they receive (sndfile); each must hear the
//! others' tones and never its own. Also: IVR prompts reach the room, key
//! tones inside the audio drive the IVR, and a SIPp room keyed in by
//! RFC 4733 is heard by the others; audio survives a lossy, jittery line
//! and the gateway's stats report it.

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use common::baresip::{Baresip, Source};
use common::impair::{Impairment, Relay};
use common::wav::{self, Recording};
use common::{sipp, Mra};

const WAIT: Duration = Duration::from_secs(15);

fn tone_file(dir: &tempfile::TempDir, name: &str, segments: &[(&[f64], f64)]) -> PathBuf {
    let path = dir.path().join(name);
    wav::write_tones(&path, segments);
    path
}

/// Dials every room into `dial` (room i through `via[i]`, the gateway by
/// default), lets audio flow for about three seconds once all are in the
/// meeting, hangs up, and returns each room's call as the admin API showed
/// it then, and what each room decoded.
fn meet_via(
    mra: &Mra,
    dial: &str,
    rooms: &mut [Baresip],
    via: &[SocketAddr],
) -> (Vec<serde_json::Value>, Vec<Recording>) {
    for (i, room) in rooms.iter_mut().enumerate() {
        room.dial(&format!("sip:{dial}@{}", via.get(i).unwrap_or(&mra.sip)));
    }
    let n = rooms.len();
    mra.wait_calls("every room in the meeting, hearing the others", |c| {
        c.len() == n
            && c.iter().all(|c| {
                c["state"] == "in-meeting" && c["media"]["meeting_streams"] == n as u64 - 1
            })
    });
    let base: Vec<u64> = mra
        .wait_calls("media stats", |c| c.iter().all(|c| c["media"].is_object()))
        .iter()
        .map(|c| c["media"]["packets_received"].as_u64().unwrap_or(0))
        .collect();
    let calls = mra.wait_calls("three seconds of audio together", |c| {
        c.iter().zip(&base).all(|(c, b)| {
            c["media"]["packets_received"].as_u64().unwrap_or(0) >= b + 150
                && c["media"]["packets_sent"].as_u64().unwrap_or(0) >= 150
        })
    });
    for room in rooms.iter_mut() {
        room.command("hangup", "");
        room.wait_event("CALL_CLOSED", WAIT);
    }
    (
        calls,
        rooms.iter().map(|r| wav::read(&r.decoded())).collect(),
    )
}

/// [`meet_via`] on a clean line: also checks the stats the gateway keeps
/// and returns each room's codec as negotiated.
fn meet(mra: &Mra, dial: &str, rooms: &mut [Baresip]) -> (Vec<String>, Vec<Recording>) {
    let (calls, heard) = meet_via(mra, dial, rooms, &[]);
    for call in &calls {
        let media = &call["media"];
        assert_eq!(media["packets_lost"], 0, "loopback loses nothing: {media}");
        assert!(
            media["jitter_ms"].as_f64().is_some_and(|j| j < 20.0),
            "{media}"
        );
        assert!(
            media["level"].as_u64().is_some_and(|l| l < 40),
            "the room's tone is loud: {media}"
        );
    }
    let codecs = calls
        .iter()
        .map(|c| c["codec"].as_str().unwrap_or_default().to_owned())
        .collect();
    (codecs, heard)
}

#[test]
fn two_rooms_over_opus_hear_each_other_and_not_themselves() {
    let mra = Mra::start();
    mra.create_meeting("123456789", Some("4321"));
    let dir = tempfile::tempdir().unwrap();
    let khz = tone_file(&dir, "1k.wav", &[(&[1000.0], 60.0)]);
    let mut rooms = [
        Baresip::start("sine", Source::Sine(440), Some("opus/48000/2")),
        Baresip::start("file", Source::File(&khz), Some("opus/48000/2")),
    ];
    let (codecs, heard) = meet(&mra, "123456789**4321", &mut rooms);
    assert_eq!(codecs, ["opus/48000/2", "opus/48000/2"]);
    heard[0].assert_hears("the 440 Hz room", &[1000.0], 440.0);
    heard[1].assert_hears("the 1 kHz room", &[440.0], 1000.0);
}

#[test]
fn a_pcma_room_and_a_g722_room_hear_each_other() {
    let mra = Mra::start();
    mra.create_meeting("123456789", Some("4321"));
    let dir = tempfile::tempdir().unwrap();
    let khz = tone_file(&dir, "1k.wav", &[(&[1000.0], 60.0)]);
    let mut rooms = [
        Baresip::start("pcma", Source::Sine(440), Some("PCMA")),
        Baresip::start("g722", Source::File(&khz), Some("G722/16000/1")),
    ];
    let (codecs, heard) = meet(&mra, "123456789**4321", &mut rooms);
    assert_eq!(codecs, ["PCMA/8000", "G722/8000"]);
    heard[0].assert_hears("the PCMA room", &[1000.0], 440.0);
    heard[1].assert_hears("the G.722 room", &[440.0], 1000.0);
}

#[test]
fn audio_survives_a_lossy_jittery_line_and_the_stats_show_the_loss() {
    let mra = Mra::start();
    mra.create_meeting("123456789", Some("4321"));
    let line = Impairment {
        loss: 0.05,
        jitter: Duration::from_millis(40),
    };
    let relay = Relay::start(mra.sip, line);
    let dir = tempfile::tempdir().unwrap();
    let khz = tone_file(&dir, "1k.wav", &[(&[1000.0], 60.0)]);
    let mut rooms = [
        Baresip::start("lossy", Source::Sine(440), Some("opus/48000/2")),
        Baresip::start("clean", Source::File(&khz), Some("opus/48000/2")),
    ];
    let (calls, heard) = meet_via(&mra, "123456789**4321", &mut rooms, &[relay.sip]);
    let lossy = &calls[0]["media"];
    let lost = lossy["packets_lost"].as_u64().unwrap_or(0);
    let received = lossy["packets_received"].as_u64().unwrap_or(0);
    let dropped = relay.dropped.load(std::sync::atomic::Ordering::Relaxed);
    let fraction = lost as f64 / (lost + received) as f64;
    assert!(
        lost > 0 && lost <= dropped && (0.005..0.15).contains(&fraction),
        "the gateway reports the loss on the room's line ({lost} lost of {}, relay dropped {dropped} both ways): {lossy}",
        lost + received
    );
    assert!(
        lossy["jitter_ms"].as_f64().is_some_and(|j| j > 4.0),
        "and the jitter: {lossy}"
    );
    assert_eq!(
        calls[1]["media"]["packets_lost"], 0,
        "the other room's line is clean"
    );
    heard[0].assert_hears("the room on the lossy line", &[1000.0], 440.0);
    heard[1].assert_hears("the room on the clean line", &[440.0], 1000.0);
}

#[test]
fn three_rooms_each_hear_the_other_two() {
    let mra = Mra::start();
    mra.create_meeting("555", None);
    let dir = tempfile::tempdir().unwrap();
    let khz = tone_file(&dir, "1k.wav", &[(&[1000.0], 60.0)]);
    let seven = tone_file(&dir, "700.wav", &[(&[700.0], 60.0)]);
    let mut rooms = [
        Baresip::start("a", Source::Sine(440), Some("PCMU")),
        Baresip::start("b", Source::File(&khz), Some("opus/48000/2")),
        Baresip::start("c", Source::File(&seven), Some("G722/16000/1")),
    ];
    let (codecs, heard) = meet(&mra, "555", &mut rooms);
    assert_eq!(codecs, ["PCMU/8000", "opus/48000/2", "G722/8000"]);
    heard[0].assert_hears("room a", &[1000.0, 700.0], 440.0);
    heard[1].assert_hears("room b", &[440.0, 700.0], 1000.0);
    heard[2].assert_hears("room c", &[440.0, 1000.0], 700.0);
}

/// DTMF row and column frequencies of a key.
fn dtmf(key: char) -> [f64; 2] {
    let keys = ["123A", "456B", "789C", "*0#D"];
    let (r, row) = keys
        .iter()
        .enumerate()
        .find(|(_, r)| r.contains(key))
        .unwrap();
    let c = row.find(key).unwrap();
    [
        [697.0, 770.0, 852.0, 941.0][r],
        [1209.0, 1336.0, 1477.0, 1633.0][c],
    ]
}

#[test]
fn the_ivr_speaks_and_key_tones_in_the_audio_take_the_room_in() {
    let mra = Mra::start();
    mra.create_meeting("2468", Some("1357"));
    let dir = tempfile::tempdir().unwrap();
    let keys: Vec<[f64; 2]> = "2468#1357#".chars().map(dtmf).collect();
    let mut segments: Vec<(&[f64], f64)> = vec![(&[], 4.0)];
    for pair in &keys {
        segments.push((pair, 0.12));
        segments.push((&[], 0.12));
    }
    segments.push((&[], 30.0));
    let file = tone_file(&dir, "keys.wav", &segments);
    let mut room = Baresip::start("keys", Source::File(&file), Some("PCMU"));
    room.dial(&format!("sip:0@{}", mra.sip));
    let calls = mra.wait_calls("in-band digits taking the room in", |c| {
        c.len() == 1 && c[0]["state"] == "in-meeting"
    });
    assert_eq!(calls[0]["meeting"], "2468");
    room.command("hangup", "");
    room.wait_event("CALL_CLOSED", WAIT);
    let heard = wav::read(&room.decoded());
    let prompt = heard.window(0.2, 3.5);
    assert!(
        Recording::rms(prompt) > 300.0,
        "the welcome prompt was heard: rms {:.0}",
        Recording::rms(prompt)
    );
}

#[test]
fn a_sipp_room_keyed_in_by_rfc4733_is_heard_by_the_meeting() {
    let mra = Mra::start();
    mra.create_meeting("2468", Some("1357"));
    let mut listener = Baresip::start("listener", Source::Sine(440), Some("PCMA"));
    listener.dial(&format!("sip:2468**1357@{}", mra.sip));
    mra.wait_calls("the listener joined", |c| {
        c.len() == 1 && c[0]["state"] == "in-meeting"
    });
    let (ok, out) = sipp("uac_ivr_rfc4733.xml", "", mra.sip, &["-m", "1"]);
    assert!(ok, "{out}");
    listener.command("hangup", "");
    listener.wait_event("CALL_CLOSED", WAIT);
    let heard = wav::read(&listener.decoded());
    let loudest = (0..heard.seconds() as usize)
        .map(|s| heard.window(s as f64, s as f64 + 1.0))
        .max_by(|a, b| Recording::rms(a).total_cmp(&Recording::rms(b)))
        .unwrap();
    assert!(
        Recording::rms(loudest) > 800.0,
        "SIPp's speech reached the listener: rms {:.0}",
        Recording::rms(loudest)
    );
    assert!(
        heard.share(loudest, 440.0) < 0.02,
        "and not the listener's own tone"
    );
    assert_eq!(mra.metric("mra_calls_admitted_total"), 2);
}
