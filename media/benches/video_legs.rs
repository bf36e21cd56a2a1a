//! Video cost of room legs: 720p30 H.264 rooms in one meeting, speaker
//! only. Each frame goes through what the video worker does — RTP of the
//! cameras put together and decoded (the speaker's camera, watched by
//! everyone else, and the previous speaker's, watched by the speaker),
//! fitted to the room's size and encoded in packetization mode 1 — with
//! encoder sharing (one encoder per distinct picture and output, as MRA
//! runs) against the direct path of a transcoder per room (a decode and an
//! encode for every room, as a gateway without sharing does), in the same
//! run. Prints rooms per core in real time each way, where the time goes
//! (decode, scale, encode, packetise), and memory per HD leg.
//! Run: `cargo bench -p media --bench video_legs`.

mod support;

use support::{camera, median, rss, speaker_only, Decoding, Encoding, Stages, FPS};

const ROOMS: usize = 10;
const FRAMES: usize = 90;
/// Alternating runs of each path; the median is reported.
const ROUNDS: usize = 5;

// Cameras × frames read best as two indices.
#[allow(clippy::needless_range_loop)]
fn main() {
    let cameras = vec![camera(0, 640, 480, FRAMES), camera(1, 1280, 720, FRAMES)];
    // Memory: what one HD leg that does not share holds (a decoder of a
    // 720p camera, its fitter and a 720p encoder), after a few frames; measured first,
    // before freed memory could be reused.
    let before = rss();
    let mut legs: Vec<(Decoding, Encoding)> = (0..ROOMS)
        .map(|_| (Decoding::new(), Encoding::new()))
        .collect();
    let mut stages = Stages::default();
    for f in 0..10 {
        for (dec, enc) in &mut legs {
            dec.take(&cameras[1][f]);
            enc.encode(dec.decoder.picture(), f, &mut stages);
        }
    }
    let per_leg = (rss().saturating_sub(before)) as f64 / ROOMS as f64 / (1 << 20) as f64;
    drop(legs);
    let seconds_of_video = FRAMES as f64 / f64::from(FPS);
    let mut with = Vec::new();
    let mut without = Vec::new();
    let mut last = (Stages::default(), Stages::default());
    for _ in 0..ROUNDS {
        let s = speaker_only(&cameras, ROOMS, true);
        with.push(ROOMS as f64 * seconds_of_video / s.total().as_secs_f64());
        let n = speaker_only(&cameras, ROOMS, false);
        without.push(ROOMS as f64 * seconds_of_video / n.total().as_secs_f64());
        last = (s, n);
    }
    let shares = |s: Stages| {
        let t = s.total().as_secs_f64();
        format!(
            "decode {:.0} %, scale {:.0} %, encode and packetise {:.0} %",
            100.0 * s.decode.as_secs_f64() / t,
            100.0 * s.scale.as_secs_f64() / t,
            100.0 * s.encode.as_secs_f64() / t
        )
    };
    let (w, n) = (median(with), median(without));
    println!(
        "{ROOMS} rooms, 720p{FPS} H.264 mode 1 at 1800 kbit/s, speaker only (median of {ROUNDS}):"
    );
    println!(
        "  a transcoder per room: {n:.1} rooms per core ({})",
        shares(last.1)
    );
    println!(
        "  MRA, encoders shared:  {w:.1} rooms per core ({})",
        shares(last.0)
    );
    println!("  ratio {:.1}", w / n);
    println!("  memory per HD leg (decoder, fitter, encoder): {per_leg:.1} MiB");
}
