//! Rooms' video against real peers: a baresip room whose camera is a
//! solid-colour clip (libx264 H.264) in a meeting with headless Chromium
//! whose fake camera is another colour. What is checked is what the
//! browser decodes (getStats) and shows (a pixel of the room's tile), what
//! the room decodes (a pixel of its `snapshot_recv` picture), and what the
//! admin API says of the stream.
//! Each test runs in a network namespace of its own with only loopback.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::baresip::{Baresip, Source, Thumbnail};
use common::browser::{from, microphone, page, tile_id, Browsers};
use common::clips::{clip, clip_sized, looks, BLUE, GREEN, RED};
use common::impair::{Impairment, Relay};
use common::linphone::Linphone;
use common::{assert_starts_with, isolate_network, Mra};

/// A meeting with Ann in Chromium (a blue fake camera) and a baresip
/// room `user` whose camera is a red `clip` it encodes as `codec`, once
/// Ann's browser decodes the room's camera and shows it in its tile.
struct BrowserAndRoom {
    mra: Mra,
    browsers: Browsers,
    room: Baresip,
    /// The colour of the room's tile in Ann's page.
    colour: Option<[u8; 3]>,
    _dir: tempfile::TempDir,
}

fn browser_and_room(user: &str, codec: &str, size: &str) -> BrowserAndRoom {
    isolate_network();
    let mra = Mra::start();
    mra.create_meeting("123456789", Some("4321"));
    let dir = tempfile::tempdir().unwrap();
    let room_clip = clip_sized(dir.path(), "red", "room.mp4", size);
    let camera = clip(dir.path(), "blue", "camera.y4m");
    let mut browsers = Browsers::start();
    let mic = microphone(&dir, 880.0);
    browsers.open_with_camera("ann", &page(&mra), &mic, &camera);
    browsers.join("ann", "123456789", "4321", "Ann").unwrap();
    let mut room = Baresip::video_room(user, Source::Sine(440), &room_clip, codec);
    room.dial(&format!("sip:123456789**4321@{}", mra.sip));
    let tile = tile_id(&mut browsers, "ann", user);
    browsers.wait(
        "the browser decoding the room's camera",
        |b| b.inbound("ann"),
        |s| from(s, &tile, "video").is_some_and(|v| v["framesDecoded"].as_u64() > Some(10)),
    );
    let colour = browsers.wait(
        "the room's tile showing its red camera",
        |b| b.tile_colour("ann", &tile),
        |rgb| rgb.is_some_and(|rgb| looks(rgb, RED)),
    );
    BrowserAndRoom {
        mra,
        browsers,
        room,
        colour,
        _dir: dir,
    }
}

#[test]
fn a_browser_and_a_room_see_each_other() {
    let BrowserAndRoom {
        mra,
        mut browsers,
        mut room,
        colour,
        _dir,
    } = browser_and_room("boardroom", "H264", "640x360");
    let calls = mra.wait_calls("the room's camera forwarded into the meeting", |c| {
        let video = &c[0]["media"]["video"];
        c.len() == 1
            && video["to_meeting"] == "forwarded"
            && video["packets_forwarded"].as_u64() > Some(30)
            && video["keyframes_received"].as_u64() > Some(0)
            && video["keyframes_wanted"].as_u64() > Some(0)
    });
    let video = &calls[0]["media"]["video"];
    common::assert_receives_h264_cleanly(video);
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("meeting-room-camera.png");
    browsers.screenshot("ann", &shot);
    // The meeting's picture (the browser's blue camera, decoded and
    // encoded again by the gateway) reaches the room.
    let seen = room.received_colour(Duration::from_secs(20), |rgb| looks(rgb, BLUE));
    let calls = mra.wait_calls("the meeting's picture sent to the room", |c| {
        c[0]["media"]["video"]["frames_sent"].as_u64() > Some(10)
    });
    let video = &calls[0]["media"]["video"];
    assert_starts_with(video, "from_meeting", "H264 ");
    assert_eq!(video["encoder_shared_by"], 1, "{video}");
    assert!(video["keyframes_sent"].as_u64() > Some(0), "{video}");
    println!("room tile colour {colour:?}; the room sees {seen:?}; video {video}");
}

/// An older room that sends and takes only H.263 (RFC 2190; baresip's
/// avcodec at CIF) with a browser: browsers do not decode H.263, so the
/// room's camera is transcoded to H.264 for the meeting, and the
/// browser's camera is encoded in H.263 for the room.
#[test]
fn an_h263_room_and_a_browser_see_each_other() {
    let BrowserAndRoom {
        mra,
        browsers: _browsers,
        mut room,
        colour,
        _dir,
    } = browser_and_room("oldroom", "H263", "352x288");
    let seen = room.received_colour(Duration::from_secs(20), |rgb| looks(rgb, BLUE));
    let calls = mra.wait_calls("the room's camera transcoded, the meeting's sent", |c| {
        let video = &c[0]["media"]["video"];
        c.len() == 1
            && video["frames_transcoded"].as_u64() > Some(10)
            && video["frames_sent"].as_u64() > Some(10)
    });
    let video = &calls[0]["media"]["video"];
    assert_starts_with(video, "codec", "H263/90000 pt 34");
    assert_eq!(video["to_meeting"], "transcoded to H264 352x288", "{video}");
    assert_eq!(video["packets_forwarded"], 0, "{video}");
    // The decoder's keyframe requests reach the room (the meeting's go to
    // our encoder instead).
    let asked: u64 = ["plis_sent", "firs_sent", "fast_updates_sent"]
        .iter()
        .filter_map(|k| video[k].as_u64())
        .sum();
    assert!(asked > 0, "{video}");
    assert_eq!(video["camera_decode_errors"], 0, "{video}");
    // baresip offers CIF4=1: 4CIF at full rate, within the call rate.
    assert_starts_with(video, "from_meeting", "H263 704x576@30");
    println!("room tile colour {colour:?}; the room sees {seen:?}; video {video}");
}

/// Two rooms of one node, one H.264 and one VP8 (each is the other's
/// active speaker): each camera is taken from its leg on the node (not
/// through the meeting service), decoded once, and encoded in the other
/// room's codec.
#[test]
fn an_h264_room_and_a_vp8_room_see_each_other() {
    isolate_network();
    let mra = Mra::start();
    mra.create_meeting("123456789", Some("4321"));
    let dir = tempfile::tempdir().unwrap();
    let red = clip(dir.path(), "red", "red.mp4");
    let green = clip(dir.path(), "lime", "green.mp4"); // #00ff00
    let mut boardroom = Baresip::video_room("boardroom", Source::Sine(440), &red, "H264");
    let mut huddle = Baresip::video_room("huddle", Source::Sine(700), &green, "VP8");
    let uri = format!("sip:123456789**4321@{}", mra.sip);
    boardroom.dial(&uri);
    huddle.dial(&uri);
    let within = Duration::from_secs(20);
    let boardroom_sees = boardroom.received_colour(within, |rgb| looks(rgb, GREEN));
    let huddle_sees = huddle.received_colour(within, |rgb| looks(rgb, RED));
    let calls = mra.wait_calls("both rooms sent the other's picture", |c| {
        c.len() == 2
            && c.iter()
                .all(|c| c["media"]["video"]["frames_sent"].as_u64() > Some(10))
    });
    let video_of = |user: &str| {
        let call = calls
            .iter()
            .find(|c| c["from"].as_str().is_some_and(|f| f.contains(user)));
        call.map(|c| c["media"]["video"].clone())
            .unwrap_or_else(|| panic!("no call from {user}: {calls:?}"))
    };
    let (b, h) = (video_of("boardroom"), video_of("huddle"));
    assert_starts_with(&b, "from_meeting", "H264 ");
    assert_starts_with(&h, "codec", "VP8/90000");
    assert_starts_with(&h, "from_meeting", "VP8 ");
    println!(
        "boardroom sees {boardroom_sees:?}, huddle sees {huddle_sees:?}; boardroom {b}; huddle {h}"
    );
}

/// A speaker who sends no video is shown as its name card: an audio-only
/// room talks, and the video room sees a plain dark grey picture with a
/// white name across its middle.
#[test]
fn a_speaker_without_video_is_seen_as_its_name_card() {
    isolate_network();
    let mra = Mra::start();
    mra.create_meeting("123456789", Some("4321"));
    let dir = tempfile::tempdir().unwrap();
    let red = clip(dir.path(), "red", "red.mp4");
    // The boardroom keeps quiet: Dave is the one speaking, whoever's audio
    // reaches the meeting first (two equal tones would leave the first
    // one heard the speaker for good).
    let quiet = dir.path().join("quiet.wav");
    common::wav::write_tones(&quiet, &[(&[], 60.0)]);
    let mut boardroom = Baresip::video_room("boardroom", Source::File(&quiet), &red, "H264");
    let mut dave = Baresip::start("Dave", Source::Sine(700), Some("PCMU"));
    let uri = format!("sip:123456789**4321@{}", mra.sip);
    boardroom.dial(&uri);
    dave.dial(&uri);
    let grey =
        |[r, g, b]: [u8; 3]| (25..70).contains(&r) && r.abs_diff(g) < 12 && r.abs_diff(b) < 12;
    let card = boardroom.received_picture(Duration::from_secs(20), |t| {
        let corners = [(4, 4), (Thumbnail::WIDTH - 5, Thumbnail::HEIGHT - 5)];
        let white = (0..Thumbnail::WIDTH)
            .flat_map(|x| (70..110).map(move |y| (x, y)))
            .filter(|&(x, y)| t.pixel(x, y).iter().all(|&c| c > 180))
            .count();
        corners.iter().all(|&(x, y)| grey(t.pixel(x, y))) && white > 30
    });
    let calls = mra.wait_calls("the card sent", |c| {
        c.iter()
            .any(|c| c["media"]["video"]["frames_sent"].as_u64() > Some(3))
    });
    let video = calls.iter().map(|c| &c["media"]["video"]);
    println!(
        "the card's corner {:?}, middle {:?}; video {:?}",
        card.pixel(4, 4),
        card.middle(),
        video.collect::<Vec<_>>()
    );
}

/// A room on a lossy line (3 % of its RTP lost each way, up to 20 ms of
/// jitter) in a meeting with a room on a clean one: the gateway asks the
/// lossy room for keyframes the way it agreed (baresip agrees `nack pli`:
/// PLIs — read by tshark from the line), and each room's picture of the
/// other keeps decoding through the losses.
#[test]
fn pictures_recover_from_a_lossy_line() {
    isolate_network();
    let mra = Mra::start();
    mra.create_meeting("123456789", Some("4321"));
    let dir = tempfile::tempdir().unwrap();
    let red = clip(dir.path(), "red", "red.mp4");
    let green = clip(dir.path(), "lime", "green.mp4");
    let line = Impairment {
        loss: 0.03,
        jitter: Duration::from_millis(20),
    };
    let relay = Relay::start(mra.sip, line);
    let mut lossy = Baresip::video_room("lossy", Source::Sine(440), &red, "H264");
    let mut clean = Baresip::video_room("clean", Source::Sine(700), &green, "H264");
    lossy.dial(&format!("sip:123456789**4321@{}", relay.sip));
    clean.dial(&format!("sip:123456789**4321@{}", mra.sip));
    let within = Duration::from_secs(20);
    lossy.received_colour(within, |rgb| looks(rgb, GREEN));
    clean.received_colour(within, |rgb| looks(rgb, RED));
    let calls = mra.wait_calls("the lossy room asked for keyframes by PLI", |c| {
        c.iter().any(|c| {
            let v = &c["media"]["video"];
            v["packets_lost"].as_i64() > Some(0)
                && v["plis_sent"].as_u64() > Some(1)
                && v["camera_frames_decoded"].as_u64() > Some(10)
        })
    });
    // After more losses, both still see each other.
    let lost = |c: &serde_json::Value| c["media"]["video"]["packets_lost"].as_i64();
    let so_far = calls.iter().filter_map(lost).max();
    mra.wait_calls("more of the lossy room's packets lost", |c| {
        c.iter().filter_map(lost).max() > so_far
    });
    let lossy_sees = lossy.received_colour(within, |rgb| looks(rgb, GREEN));
    let clean_sees = clean.received_colour(within, |rgb| looks(rgb, RED));
    let pcap = dir.path().join("gateway-rtcp.pcap");
    let decode = relay.rtcp_pcap(&pcap, true);
    let decode: Vec<&str> = decode.iter().map(String::as_str).collect();
    assert_eq!(common::pcap::tshark_complaints(&pcap, &decode), "");
    let feedback = common::pcap::tshark_read(&pcap, &decode, &["rtcp.pt", "rtcp.psfb.fmt"]);
    let plis = feedback
        .lines()
        .filter(|l| {
            let mut cols = l.split('\t');
            let (types, formats) = (cols.next().unwrap_or(""), cols.next().unwrap_or(""));
            types.split(',').any(|t| t == "206") && formats.split(',').any(|f| f == "1")
        })
        .count();
    assert!(plis > 0, "no PLI from the gateway on the line:\n{feedback}");
    let video = calls.iter().map(|c| &c["media"]["video"]);
    println!(
        "{} RTP packets dropped; {plis} PLIs on the line; lossy sees {lossy_sees:?}, clean sees {clean_sees:?}; video {:?}",
        relay.dropped.load(std::sync::atomic::Ordering::Relaxed),
        video.collect::<Vec<_>>()
    );
}

/// A VP8 room (linphonec, whose camera is a still blue picture) and an
/// H.264 room (baresip, a red clip) in one meeting, each talking: each
/// sees the other, decoded once and encoded in its own codec.
#[test]
fn a_linphone_vp8_room_and_a_baresip_h264_room_see_each_other() {
    isolate_network();
    let mra = Mra::start();
    mra.create_meeting("123456789", Some("4321"));
    let dir = tempfile::tempdir().unwrap();
    let red = clip(dir.path(), "red", "red.mp4");
    let blue = clip(dir.path(), "blue", "blue.jpg");
    let speech = dir.path().join("huddle.wav");
    common::wav::write_tones(&speech, &[(&[700.0], 30.0)]);
    let mut huddle = Linphone::video_room("huddle", "Huddle", &blue, &speech);
    let mut boardroom = Baresip::video_room("boardroom", Source::Sine(440), &red, "H264");
    let uri = format!("sip:123456789**4321@{}", mra.sip);
    huddle.dial(&uri);
    boardroom.dial(&uri);
    let within = Duration::from_secs(20);
    let huddle_sees = huddle.received_picture(within, |t| looks(t.middle(), RED));
    let boardroom_sees = boardroom.received_colour(within, |rgb| looks(rgb, BLUE));
    let calls = mra.wait_calls("each room sent the other's picture", |c| {
        c.len() == 2
            && c.iter()
                .all(|c| c["media"]["video"]["frames_sent"].as_u64() > Some(10))
    });
    let vp8 = calls
        .iter()
        .map(|c| &c["media"]["video"])
        .find(|v| v["codec"].as_str().is_some_and(|c| c.starts_with("VP8/")))
        .unwrap_or_else(|| panic!("linphonec's call is not VP8: {calls:?}"));
    assert_starts_with(vp8, "from_meeting", "VP8 ");
    assert_eq!(vp8["rejected_packets"], 0, "{vp8}");
    println!(
        "huddle (VP8) sees {:?}, boardroom sees {boardroom_sees:?}; {vp8}",
        huddle_sees.middle()
    );
}

/// Three rooms in a meeting whose layout is speaker only: a quiet red
/// one watches while a green one talks, then falls silent as a blue one
/// starts talking; the quiet room's picture follows the speaker from
/// green to blue.
#[test]
fn the_picture_follows_the_speaker() {
    isolate_network();
    let mra = Mra::start();
    mra.create_meeting("123456789", Some("4321"));
    let layout = r#"{"layout": "speaker"}"#;
    let (status, body) = mra.http("PUT", "/api/v1/meetings/123456789/layout", Some(layout));
    assert_eq!(status, 200, "{body}");
    let dir = tempfile::tempdir().unwrap();
    let audio = |name: &str, segments: &[(&[f64], f64)]| {
        let path = dir.path().join(name);
        common::wav::write_tones(&path, segments);
        path
    };
    let quiet = audio("quiet.wav", &[(&[], 40.0)]);
    let first = audio("first.wav", &[(&[700.0], 8.0), (&[], 32.0)]);
    let second = audio("second.wav", &[(&[], 8.0), (&[900.0], 32.0)]);
    let red = clip(dir.path(), "red", "red.mp4");
    let green = clip(dir.path(), "lime", "green.mp4");
    let blue = clip(dir.path(), "blue", "blue.mp4");
    let uri = format!("sip:123456789**4321@{}", mra.sip);
    let mut talker = Baresip::video_room("talker", Source::File(&first), &green, "H264");
    let mut next = Baresip::video_room("next", Source::File(&second), &blue, "H264");
    talker.dial(&uri);
    next.dial(&uri);
    let mut watcher = Baresip::video_room("watcher", Source::File(&quiet), &red, "H264");
    watcher.dial(&uri);
    let within = Duration::from_secs(20);
    let before = watcher.received_colour(within, |rgb| looks(rgb, GREEN));
    let after = watcher.received_colour(within, |rgb| looks(rgb, BLUE));
    println!("the quiet room saw {before:?} while the first spoke, then {after:?}");
}
