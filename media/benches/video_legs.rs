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

use std::time::{Duration, Instant};

use bytes::Bytes;
mod support;

use media::video::{
    Assembled, Fitter, FrameAssembler, Output, Picture, VideoDecoder, VideoEncoder,
};
use media_api::{SendMode, VideoCodec};
use support::scene;

const ROOMS: usize = 10;
const FPS: u32 = 30;
const FRAMES: usize = 90;
/// Alternating runs of each path; the median is reported.
const ROUNDS: usize = 5;

const HD: SendMode = SendMode {
    width: 1280,
    height: 720,
    fps: FPS,
};

fn output() -> Output {
    Output {
        codec: VideoCodec::H264,
        packetization_mode: 1,
        mode: HD,
        kbps: 1800,
    }
}

/// A camera's RTP payloads, frame by frame (sequence, timestamp, marker,
/// payload), as its room would send them.
type Camera = Vec<Vec<(u16, u32, bool, Bytes)>>;

fn camera(n: usize, width: u32, height: u32) -> Camera {
    let mut encoder = VideoEncoder::new(Output {
        mode: SendMode {
            width,
            height,
            fps: FPS,
        },
        ..output()
    })
    .unwrap();
    let mut seq = 0u16;
    (0..FRAMES)
        .map(|f| {
            let picture = scene(n, f, width, height);
            let frame = encoder
                .encode(&picture, f as u64 * 33)
                .unwrap()
                .expect("a frame");
            let last = frame.payloads.len() - 1;
            frame
                .payloads
                .into_iter()
                .enumerate()
                .map(|(i, payload)| {
                    seq = seq.wrapping_add(1);
                    (seq, frame.timestamp, i == last, payload)
                })
                .collect()
        })
        .collect()
}

/// Time spent per stage.
#[derive(Default, Clone, Copy)]
struct Stages {
    decode: Duration,
    scale: Duration,
    encode: Duration,
}

impl Stages {
    fn total(&self) -> Duration {
        self.decode + self.scale + self.encode
    }
}

/// One camera being decoded.
struct Decoding {
    assembler: FrameAssembler,
    decoder: VideoDecoder,
}

impl Decoding {
    fn new() -> Decoding {
        Decoding {
            assembler: FrameAssembler::new(VideoCodec::H264),
            decoder: VideoDecoder::new(VideoCodec::H264).unwrap(),
        }
    }

    fn take(&mut self, packets: &[(u16, u32, bool, Bytes)]) {
        let decoder = &mut self.decoder;
        let now = Instant::now();
        for (seq, ts, marker, payload) in packets {
            self.assembler
                .push(now, *seq, *ts, *marker, payload.clone(), |out| {
                    if let Assembled::Frame { data, .. } = out {
                        decoder.decode(data).unwrap();
                    }
                });
        }
    }
}

/// One encoder and its fitter (what the worker calls a stream).
struct Encoding {
    fitter: Fitter,
    encoder: VideoEncoder,
    bytes: usize,
}

impl Encoding {
    fn new() -> Encoding {
        Encoding {
            fitter: Fitter::new(HD.width, HD.height),
            encoder: VideoEncoder::new(output()).unwrap(),
            bytes: 0,
        }
    }

    fn encode(&mut self, picture: &Picture, frame: usize, stages: &mut Stages) {
        let t = Instant::now();
        let fitted = self.fitter.fit(picture).unwrap();
        stages.scale += t.elapsed();
        let t = Instant::now();
        if let Some(out) = self.encoder.encode(fitted, frame as u64 * 33).unwrap() {
            self.bytes += out.payloads.iter().map(Bytes::len).sum::<usize>();
        }
        stages.encode += t.elapsed();
    }
}

// Cameras × frames read best as two indices.
#[allow(clippy::needless_range_loop)]
/// The meeting's video work for FRAMES frames: the speaker (camera 0,
/// 640x480) watched by every other room, the previous speaker (camera 1,
/// 720p) watched by the speaker. `shared`: one encoder per distinct
/// picture (MRA); otherwise a decode and an encoder for every room.
fn run(cameras: &[Camera], shared: bool) -> Stages {
    let mut stages = Stages::default();
    // Shared: one decoder and encoder per watched camera. Not shared: one
    // per room, room 0 (the speaker) watching camera 1, the others 0.
    let decoders = if shared { 2 } else { ROOMS };
    let watched = |d: usize| usize::from(if shared { d == 1 } else { d == 0 });
    let mut decoding: Vec<Decoding> = (0..decoders).map(|_| Decoding::new()).collect();
    let mut encoding: Vec<Encoding> = (0..decoders).map(|_| Encoding::new()).collect();
    for f in 0..FRAMES {
        for (d, dec) in decoding.iter_mut().enumerate() {
            let t = Instant::now();
            dec.take(&cameras[watched(d)][f]);
            stages.decode += t.elapsed();
            encoding[d].encode(dec.decoder.picture(), f, &mut stages);
        }
    }
    stages
}

/// Resident memory of this process, bytes.
fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

// Cameras × frames read best as two indices.
#[allow(clippy::needless_range_loop)]
fn main() {
    let cameras = vec![camera(0, 640, 480), camera(1, 1280, 720)];
    let seconds_of_video = FRAMES as f64 / f64::from(FPS);
    let mut with = Vec::new();
    let mut without = Vec::new();
    let mut last = (Stages::default(), Stages::default());
    for _ in 0..ROUNDS {
        let s = run(&cameras, true);
        with.push(ROOMS as f64 * seconds_of_video / s.total().as_secs_f64());
        let n = run(&cameras, false);
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

    // Memory: what one HD leg that does not share holds (a decoder of a
    // 720p camera, its fitter and a 720p encoder), after a few frames.
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
    println!("  memory per HD leg (decoder, fitter, encoder): {per_leg:.1} MiB");
    drop(legs);
}
