//! Continuous-presence cost of a meeting: ten 720p30 H.264 rooms in 1+7,
//! as the video workers do it — the cameras shown decoded once, each
//! scaled once per tile size, nine pictures composed (the meeting's,
//! taken by the two rooms it does not show, and one for each of the
//! eight it shows, without itself) with name labels, and each encoded
//! once — against speaker only with shared encoders (the previous
//! figure) in the same run. Prints rooms per core in real time each way,
//! where the time goes, and the memory the meeting's pictures take.
//! Run: `cargo bench -p media --bench layouts`.

mod support;

use std::collections::HashMap;
use std::time::Instant;

use media::video::compose::{Composer, Shown};
use media::video::{Fitter, Picture, VideoEncoder};
use media_api::layout::Layout;
use support::{camera, median, output, rss, speaker_only, Camera, Decoding, Stages, FPS, HD};

const ROOMS: usize = 10;
const FRAMES: usize = 90;
/// Alternating runs of each path; the median is reported.
const ROUNDS: usize = 5;
const NAMES: [&str; ROOMS] = [
    "Board room",
    "Huddle 2",
    "Lab",
    "Lobby",
    "Studio",
    "Library",
    "Cafe",
    "Annex",
    "Garage",
    "Roof",
];

/// The cameras each picture shows, big tile first: the meeting's (the
/// first eight, room 0 speaking), and for each shown room the same
/// without itself, the next one taking its place.
fn pictures() -> Vec<Vec<usize>> {
    let tiles = Layout::OnePlus7.tiles().len();
    let meeting: Vec<usize> = (0..tiles).collect();
    let mut all = vec![meeting];
    all.extend((0..tiles).map(|me| (0..=tiles).filter(|&c| c != me).collect()));
    all
}

/// A meeting's continuous presence on its video worker.
struct Presence {
    decoding: Vec<Decoding>,
    /// Each camera scaled to each tile size, and the frame it holds.
    scaled: HashMap<(usize, (u32, u32)), (Fitter, usize)>,
    composers: Vec<(Vec<usize>, Composer)>,
    encoders: Vec<VideoEncoder>,
}

impl Presence {
    fn new() -> Presence {
        let pictures = pictures();
        let shown = pictures.iter().flatten().max().unwrap() + 1;
        Presence {
            decoding: (0..shown).map(|_| Decoding::new()).collect(),
            scaled: HashMap::new(),
            encoders: pictures
                .iter()
                .map(|_| VideoEncoder::new(output()).unwrap())
                .collect(),
            composers: pictures
                .into_iter()
                .map(|p| (p, Composer::new(Layout::OnePlus7, HD.width, HD.height)))
                .collect(),
        }
    }

    /// Frame `f`: decode, scale, compose, encode.
    fn frame(&mut self, cameras: &[Camera], f: usize, stages: &mut Stages) {
        let t = Instant::now();
        for (c, decoding) in self.decoding.iter_mut().enumerate() {
            decoding.take(&cameras[c][f]);
        }
        stages.decode += t.elapsed();
        let t = Instant::now();
        for (shown, composer) in &self.composers {
            for (i, &c) in shown.iter().enumerate() {
                let size = composer.tile_size(i);
                let (fitter, at) = self
                    .scaled
                    .entry((c, size))
                    .or_insert_with(|| (Fitter::new(size.0, size.1), usize::MAX));
                if *at != f {
                    *at = f;
                    fitter.fit(self.decoding[c].decoder.picture()).unwrap();
                }
            }
        }
        stages.scale += t.elapsed();
        for ((shown, composer), encoder) in self.composers.iter_mut().zip(&mut self.encoders) {
            let t = Instant::now();
            let tiles: Vec<Option<Shown>> = shown
                .iter()
                .enumerate()
                .map(|(i, &c)| {
                    let fitter = &self.scaled[&(c, composer.tile_size(i))].0;
                    Some(Shown {
                        picture: Some(fitter.fitted(self.decoding[c].decoder.picture())),
                        name: NAMES[c],
                        muted: c == 3,
                    })
                })
                .collect();
            let picture: &Picture = composer.compose(&tiles).unwrap();
            stages.compose += t.elapsed();
            let t = Instant::now();
            encoder.encode(picture, f as u64 * 33).unwrap();
            stages.encode += t.elapsed();
        }
    }
}

fn main() {
    // Half the cameras 640x480, half 720p: some tiles scale down a lot,
    // some change aspect ratio.
    let cameras: Vec<Camera> = (0..ROOMS)
        .map(|n| match n % 2 {
            0 => camera(n, 640, 480, FRAMES),
            _ => camera(n, 1280, 720, FRAMES),
        })
        .collect();
    // Memory: the meeting's decoders, scaled tiles, pictures and
    // encoders, after a few frames, before anything else was
    // made (freed memory would be reused).
    let before = rss();
    let mut meeting = Presence::new();
    let mut stages = Stages::default();
    for f in 0..10 {
        meeting.frame(&cameras, f, &mut stages);
    }
    let mib = rss().saturating_sub(before) as f64 / (1 << 20) as f64;
    drop(meeting);
    let seconds_of_video = FRAMES as f64 / f64::from(FPS);
    let per_core = |s: &Stages| ROOMS as f64 * seconds_of_video / s.total().as_secs_f64();
    let (mut presence, mut speaker) = (Vec::new(), Vec::new());
    let mut last = (Stages::default(), Stages::default());
    for _ in 0..ROUNDS {
        let mut p = Stages::default();
        let mut meeting = Presence::new();
        for f in 0..FRAMES {
            meeting.frame(&cameras, f, &mut p);
        }
        presence.push(per_core(&p));
        let s = speaker_only(&cameras[..2], ROOMS, true);
        speaker.push(per_core(&s));
        last = (p, s);
    }
    let shares = |s: Stages| {
        let t = s.total().as_secs_f64();
        let share = |d: std::time::Duration| 100.0 * d.as_secs_f64() / t;
        format!(
            "decode {:.0} %, scale {:.0} %, compose {:.0} %, encode {:.0} %",
            share(s.decode),
            share(s.scale),
            share(s.compose),
            share(s.encode)
        )
    };
    let (p, s) = (median(presence), median(speaker));
    let pictures = pictures().len();
    println!(
        "{ROOMS} rooms, 720p{FPS} H.264 mode 1 at 1800 kbit/s, encoders shared (median of {ROUNDS}):"
    );
    println!(
        "  1+7 ({pictures} pictures, {pictures} encoders): {p:.1} rooms per core ({})",
        shares(last.0)
    );
    println!(
        "  speaker only (2 encoders): {s:.1} rooms per core ({})",
        shares(last.1)
    );
    println!("  ratio {:.2}", p / s);
    println!("  memory of the meeting's continuous presence: {mib:.0} MiB");
}
