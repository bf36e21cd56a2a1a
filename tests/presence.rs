//! Continuous presence against real peers: rooms whose cameras are solid
//! colours in one meeting, and what each room decodes read tile by tile
//! (the colour at a tile's middle, named with a tolerance for coding;
//! the label strip along a tile's bottom darker, with the name's white
//! glyphs on it). Layouts are changed by REST and by DTMF from the room;
//! the big tile follows the speaker, polling turns the small ones, and
//! `/metrics` counts the meeting's encoders. Each test runs in a network
//! namespace of its own with only loopback.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use common::baresip::{Baresip, Source, Thumbnail};
use common::browser::{microphone, page, Browsers};
use common::clips::{clip, clip_sized};
use common::linphone::Linphone;
use common::{isolate_network, Mra};

/// Camera colours (FFmpeg's names) and how they look in RGB.
const PALETTE: [(&str, [u8; 3]); 11] = [
    ("red", [255, 0, 0]),
    ("lime", [0, 255, 0]),
    ("blue", [0, 0, 255]),
    ("yellow", [255, 255, 0]),
    ("cyan", [0, 255, 255]),
    ("magenta", [255, 0, 255]),
    ("white", [255, 255, 255]),
    ("gray", [128, 128, 128]),
    ("olive", [128, 128, 0]),
    ("teal", [0, 128, 128]),
    ("black", [0, 0, 0]),
];

/// The palette colour `rgb` is, within what coding changes.
fn named(rgb: [u8; 3]) -> Option<&'static str> {
    PALETTE
        .iter()
        .find(|(_, c)| (0..3).all(|i| rgb[i].abs_diff(c[i]) < 60))
        .map(|(name, _)| *name)
}

/// A tile as fractions of the picture: x, y, width, height.
type Tile = (f32, f32, f32, f32);

const GRID_2: [Tile; 4] = [
    (0.0, 0.0, 0.5, 0.5),
    (0.5, 0.0, 0.5, 0.5),
    (0.0, 0.5, 0.5, 0.5),
    (0.5, 0.5, 0.5, 0.5),
];

/// 1+7: the big tile, the right column, the bottom row.
fn one_plus_7() -> Vec<Tile> {
    let mut tiles = vec![(0.0, 0.0, 0.75, 0.75)];
    tiles.extend((0..3).map(|row| (0.75, row as f32 * 0.25, 0.25, 0.25)));
    tiles.extend((0..4).map(|column| (column as f32 * 0.25, 0.75, 0.25, 0.25)));
    tiles
}

fn at(t: &Thumbnail, x: f32, y: f32) -> [u8; 3] {
    let w = Thumbnail::WIDTH as f32;
    let h = Thumbnail::HEIGHT as f32;
    t.pixel(
        ((x * w) as usize).min(Thumbnail::WIDTH - 1),
        ((y * h) as usize).min(Thumbnail::HEIGHT - 1),
    )
}

/// The colour shown in each tile (at its middle, above its label).
fn colours(t: &Thumbnail, tiles: &[Tile]) -> Vec<Option<&'static str>> {
    tiles
        .iter()
        .map(|&(x, y, w, h)| named(at(t, x + w / 2.0, y + h * 0.4)))
        .collect()
}

/// Sorted, for comparing as sets.
fn sorted(names: &[Option<&'static str>]) -> Vec<Option<&'static str>> {
    let mut names = names.to_vec();
    names.sort();
    names
}

fn set_layout(mra: &Mra, path: &str, body: &str) {
    let (status, answer) = mra.http("PUT", path, Some(body));
    assert_eq!(status, 200, "PUT {path} {body}: {answer}");
}

/// The call from `user` in `/api/v1/calls`, once its video has a layout.
fn call_of(mra: &Mra, user: &str, layout: &str) -> serde_json::Value {
    let calls = mra.wait_calls(&format!("{user}'s layout {layout}"), |c| {
        c.iter().any(|c| {
            c["from"].as_str().is_some_and(|f| f.contains(user))
                && c["media"]["video"]["layout"] == layout
        })
    });
    let call = calls
        .iter()
        .find(|c| c["from"].as_str().is_some_and(|f| f.contains(user)));
    call.cloned().expect("just seen")
}

/// Four participants with distinct colours in a 2x2 — two baresip H.264
/// rooms, a linphonec VP8 room and Chromium — and each room's picture
/// shows the three others, each in a quadrant, labelled with its name on
/// a darkened strip, and never itself.
#[test]
fn four_participants_in_a_2x2_each_room_sees_the_three_others_labelled() {
    isolate_network();
    let mra = Mra::start();
    mra.create_meeting("123456789", Some("4321"));
    set_layout(
        &mra,
        "/api/v1/meetings/123456789/layout",
        r#"{"layout": "2x2"}"#,
    );
    let dir = tempfile::tempdir().unwrap();
    let mut browsers = Browsers::start();
    let camera = clip(dir.path(), "yellow", "camera.y4m");
    let mic = microphone(&dir, 880.0);
    browsers.open_with_camera("ann", &page(&mra), &mic, &camera);
    browsers.join("ann", "123456789", "4321", "Ann").unwrap();
    let red = clip(dir.path(), "red", "red.mp4");
    let lime = clip(dir.path(), "lime", "lime.mp4");
    let blue = clip(dir.path(), "blue", "blue.jpg");
    let speech = dir.path().join("lab.wav");
    common::wav::write_tones(&speech, &[(&[700.0], 60.0)]);
    let uri = format!("sip:123456789**4321@{}", mra.sip);
    let mut boardroom = Baresip::video_room("boardroom", Source::Sine(440), &red, "H264");
    let mut huddle = Baresip::video_room("huddle", Source::Sine(550), &lime, "H264");
    let mut lab = Linphone::video_room("lab", "Lab", &blue, &speech);
    boardroom.dial(&uri);
    huddle.dial(&uri);
    lab.dial(&uri);

    let within = Duration::from_secs(30);
    let shows = |others: [&'static str; 3]| {
        let mut want: Vec<Option<&str>> = others.iter().map(|&c| Some(c)).collect();
        want.push(Some("black"));
        want.sort();
        move |t: &Thumbnail| sorted(&colours(t, &GRID_2)) == want
    };
    let boardroom_sees = boardroom.received_picture(within, shows(["lime", "blue", "yellow"]));
    let huddle_sees = huddle.received_picture(within, shows(["red", "blue", "yellow"]));
    let lab_sees = lab.received_picture(within, shows(["red", "lime", "yellow"]));

    // Each shown tile's label: its bottom strip darker than the tile,
    // with the name's white glyphs on it.
    for (x, y, w, h) in GRID_2 {
        let middle = at(&boardroom_sees, x + w / 2.0, y + h * 0.4);
        if named(middle) == Some("black") {
            continue;
        }
        let strip_y = y + h * 0.96;
        let strip = at(&boardroom_sees, x + w * 0.97, strip_y);
        let sum = |rgb: [u8; 3]| rgb.iter().map(|&c| u32::from(c)).sum::<u32>();
        assert!(
            sum(strip) * 10 < sum(middle) * 6,
            "the label strip of the tile at ({x}, {y}) is {strip:?}, the tile {middle:?}"
        );
        let brightest = (0..60)
            .map(|i| {
                at(
                    &boardroom_sees,
                    x + w * (0.02 + i as f32 * 0.005),
                    strip_y - h * 0.03,
                )
            })
            .map(sum)
            .max()
            .unwrap_or(0);
        assert!(
            brightest > sum(strip) + 150,
            "no name drawn in the tile at ({x}, {y}): brightest {brightest}, strip {strip:?}"
        );
    }
    for user in ["boardroom", "huddle", "lab"] {
        call_of(&mra, user, "2x2");
    }
    println!(
        "boardroom sees {:?}, huddle {:?}, lab {:?}",
        colours(&boardroom_sees, &GRID_2),
        colours(&huddle_sees, &GRID_2),
        colours(&lab_sees, &GRID_2)
    );
}

/// A meeting's layout (stored before anyone joins) holds from its first
/// room on; a room's own layout, set by REST and then stepped by `*8`
/// (RFC 4733 from baresip), changes the picture it receives and what
/// `/api/v1/calls` says, and not the other room's.
#[test]
fn a_rooms_layout_changes_by_rest_and_by_star_8() {
    isolate_network();
    let mra = Mra::start();
    mra.create_meeting("123456789", Some("4321"));
    set_layout(
        &mra,
        "/api/v1/meetings/123456789/layout",
        r#"{"layout": "1+5"}"#,
    );
    let dir = tempfile::tempdir().unwrap();
    let red = clip(dir.path(), "red", "red.mp4");
    let lime = clip(dir.path(), "lime", "lime.mp4");
    let uri = format!("sip:123456789**4321@{}", mra.sip);
    let mut boardroom = Baresip::video_room("boardroom", Source::Sine(440), &red, "H264");
    let mut huddle = Baresip::video_room("huddle", Source::Sine(550), &lime, "H264");
    boardroom.dial(&uri);
    // Alone, the first room already has its meeting's layout.
    call_of(&mra, "boardroom", "1+5");
    huddle.dial(&uri);
    let within = Duration::from_secs(20);
    // The middle of the picture is in 1+5's big tile.
    let full = [(0.0, 0.0, 1.0, 1.0)];
    let one = |t: &Thumbnail| colours(t, &full)[0];
    boardroom.received_picture(within, |t| one(t) == Some("lime"));
    let call = call_of(&mra, "boardroom", "1+5");
    let id = call["id"].as_u64().unwrap();

    let (status, refused) = mra.http(
        "PUT",
        &format!("/api/v1/calls/{id}/layout"),
        Some(r#"{"layout": "7x7"}"#),
    );
    assert_eq!(status, 400, "{refused}");
    let (status, refused) = mra.http(
        "PUT",
        "/api/v1/meetings/123456789/layout",
        Some(r#"{"polling_seconds": 2}"#),
    );
    assert_eq!(
        (status, refused.contains("5 to 300")),
        (400, true),
        "{refused}"
    );

    set_layout(
        &mra,
        &format!("/api/v1/calls/{id}/layout"),
        r#"{"layout": "2x2"}"#,
    );
    let grid = boardroom.received_picture(within, |t| {
        colours(t, &GRID_2) == [Some("lime"), Some("black"), Some("black"), Some("black")]
    });
    call_of(&mra, "boardroom", "2x2");

    boardroom.command("sndcode", "*8");
    let nine: Vec<Tile> = (0..9)
        .map(|i| {
            (
                (i % 3) as f32 / 3.0,
                (i / 3) as f32 / 3.0,
                1.0 / 3.0,
                1.0 / 3.0,
            )
        })
        .collect();
    let stepped = boardroom.received_picture(within, |t| {
        let c = colours(t, &nine);
        c[0] == Some("lime") && c[1..].iter().all(|c| *c == Some("black"))
    });
    call_of(&mra, "boardroom", "3x3");
    // The other room keeps its own.
    huddle.received_picture(within, |t| one(t) == Some("red"));
    call_of(&mra, "huddle", "1+5");
    println!(
        "2x2: {:?}; after *8: {:?}",
        colours(&grid, &GRID_2),
        colours(&stepped, &nine)
    );
}

/// Starts a 320x180 video room of `colour` whose microphone plays `wav`.
fn small_room(dir: &Path, user: &str, colour: &str, wav: &Path) -> Baresip {
    let clip = clip_sized(dir, colour, &format!("{user}.mp4"), "320x180");
    Baresip::video_room_sized(user, Source::File(wav), &clip, "H264", "320x180")
}

/// Ten rooms in a meeting in 1+7 with polling every 5 s: the big tile of
/// the watching room's picture follows whoever speaks (timed from when
/// the speech moves from one room to another), the small tiles show
/// every silent room within two polling periods, the watching room never
/// sees itself, and the meeting runs on at most one encoder more than
/// the rooms its picture shows.
#[test]
fn ten_rooms_in_1_plus_7_follow_the_speaker_poll_the_others_and_share_encoders() {
    isolate_network();
    // 384 kbit/s calls: everyone takes a 320x180 picture.
    let mra = Mra::start_with(&[("MRA_MEDIA_MAX_CALL_RATE_KBPS", "384")]);
    mra.create_meeting("123456789", Some("4321"));
    let settings = r#"{"layout": "1+7", "polling_seconds": 5}"#;
    set_layout(&mra, "/api/v1/meetings/123456789/layout", settings);
    let dir = tempfile::tempdir().unwrap();
    let wav = |name: &str, segments: &[(&[f64], f64)]| {
        let path = dir.path().join(name);
        common::wav::write_tones(&path, segments);
        path
    };
    let silent = wav("silent.wav", &[(&[], 180.0)]);
    // The first speaker talks for 15 s, the second from 10 s on: the
    // speech moves when the first falls silent.
    let first = wav("first.wav", &[(&[700.0], 15.0), (&[], 165.0)]);
    let second = wav("second.wav", &[(&[], 10.0), (&[900.0], 170.0)]);
    let uri = format!("sip:123456789**4321@{}", mra.sip);
    let quiet = ["blue", "yellow", "cyan", "magenta", "gray", "olive", "teal"];
    let mut watcher = small_room(dir.path(), "watcher", "white", &silent);
    watcher.dial(&uri);
    let mut rooms: Vec<Baresip> = quiet
        .iter()
        .map(|c| small_room(dir.path(), &format!("room{c}"), c, &silent))
        .collect();
    for room in &mut rooms {
        room.dial(&uri);
    }
    let mut talker = small_room(dir.path(), "talker", "red", &first);
    talker.dial(&uri);
    let moves_at = Instant::now() + Duration::from_secs(15);
    let mut next = small_room(dir.path(), "next", "lime", &second);
    next.dial(&uri);

    let tiles = one_plus_7();
    let big = |t: &Thumbnail| colours(t, &tiles[..1])[0];
    let within = Duration::from_secs(30);
    watcher.received_picture(within, |t| big(t) == Some("red"));
    // While the first speaker goes on, the second (talking too, from
    // 10 s) does not take the big tile.
    while Instant::now() + Duration::from_secs(1) < moves_at {
        let picture = watcher.received_picture(within, |_| true);
        assert_eq!(big(&picture), Some("red"), "the big tile left the speaker");
    }
    watcher.received_picture(within, |t| big(t) == Some("lime"));
    let switched = Instant::now().saturating_duration_since(moves_at);
    assert!(
        switched < Duration::from_secs(2),
        "the big tile took {switched:?} to follow the speech"
    );

    // Polling: the silent rooms all come round in the small tiles.
    let mut seen = BTreeSet::new();
    let polled_from = Instant::now();
    let mut pictures = 0;
    while polled_from.elapsed() < Duration::from_secs(12) {
        let picture = watcher.received_picture(within, |_| true);
        pictures += 1;
        let small = colours(&picture, &tiles[1..]);
        assert!(
            !small.contains(&Some("white")),
            "the watcher sees itself: {small:?}"
        );
        seen.extend(small.into_iter().flatten());
    }
    for colour in quiet {
        assert!(
            seen.contains(colour),
            "{colour} never shown in {pictures} pictures: {seen:?}"
        );
    }
    let name = "mra_media_video_meeting_encoders{meeting=\"123456789\"}";
    let encoders = mra.metric(name);
    assert!(
        (1..=8 + 1).contains(&encoders),
        "{encoders} encoders for ten rooms of which eight are shown"
    );
    let calls = mra.wait_calls("ten calls in 1+7", |c| {
        c.len() == 10 && c.iter().all(|c| c["media"]["video"]["layout"] == "1+7")
    });
    let shared = calls
        .iter()
        .map(|c| {
            c["media"]["video"]["encoder_shared_by"]
                .as_u64()
                .unwrap_or(0)
        })
        .max();
    println!(
        "the big tile followed the speech {switched:?} after it moved; polling showed {seen:?} \
         in {pictures} pictures over 12 s; {encoders} encoders for 10 rooms (most shared: {shared:?})"
    );
    drop(rooms);
}
