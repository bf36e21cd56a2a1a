//! Compositing cost per output frame: a 1+7 continuous-presence picture
//! of eight cameras (four 640×480, four 1280×720, each fitted into its
//! tile with the aspect ratio kept and labelled with a name) at 720p and
//! 1080p, against the direct
//! path of speaker only (the speaker's camera fitted to the whole picture)
//! in the same run. Scaling is FFmpeg's swscale, as the video workers use.
//! Run: `cargo bench -p media --bench compose`.

mod support;

use std::time::Instant;

use media::video::compose::{Composer, Shown};
use media::video::{Fitter, Picture};
use media_api::layout::Layout;
use support::scene;

const FRAMES: usize = 120;
/// Alternating runs of each path; the median is reported.
const ROUNDS: usize = 5;

/// The median of per-frame times, milliseconds.
fn median_ms(times: &mut [f64]) -> f64 {
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn main() {
    // Each camera's picture changes every frame; a few of them cycled.
    let cameras: Vec<Vec<Picture>> = (0..8)
        .map(|n| {
            let (w, h) = if n % 2 == 0 { (640, 480) } else { (1280, 720) };
            (0..4).map(|f| scene(n, f, w, h)).collect()
        })
        .collect();
    println!("compose: {FRAMES} frames a run, median of {ROUNDS}");
    for (width, height) in [(1280, 720), (1920, 1080)] {
        let mut composed = Vec::new();
        let mut speaker_only = Vec::new();
        let mut composer = Composer::new(Layout::OnePlus7, width, height);
        let mut fitter = Fitter::new(width, height);
        for _ in 0..ROUNDS {
            let start = Instant::now();
            for f in 0..FRAMES {
                let tiles: Vec<Option<Shown>> = (cameras.iter())
                    .map(|c| {
                        Some(Shown {
                            picture: Some(&c[f % c.len()]),
                            name: "Conference room",
                            muted: f % 2 == 0,
                        })
                    })
                    .collect();
                std::hint::black_box(composer.compose(&tiles).expect("composes"));
            }
            composed.push(start.elapsed().as_secs_f64() * 1000.0 / FRAMES as f64);
            let start = Instant::now();
            for f in 0..FRAMES {
                let speaker = &cameras[0][f % cameras[0].len()];
                std::hint::black_box(fitter.fit(speaker).expect("fits"));
            }
            speaker_only.push(start.elapsed().as_secs_f64() * 1000.0 / FRAMES as f64);
        }
        let (c, s) = (median_ms(&mut composed), median_ms(&mut speaker_only));
        println!(
            "{width}x{height}: 1+7 composed {c:.2} ms/frame, speaker only {s:.2} ms/frame \
             ({:.1}x); one core composes {:.0} such pictures at 30 fps",
            c / s,
            1000.0 / (c * 30.0)
        );
    }
}
