//! What the media benches share: camera-like pictures, cameras as the RTP
//! their rooms send, and a camera being decoded. Each bench uses some.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use media::video::{
    black, Assembled, Fitter, FrameAssembler, Output, Picture, VideoDecoder, VideoEncoder,
};
use media_api::{SendMode, VideoCodec};

/// The frame rate of the cameras.
pub const FPS: u32 = 30;

/// A camera-like picture: a textured scene panning a few pixels a frame,
/// different for each camera.
pub fn scene(camera: usize, frame: usize, width: u32, height: u32) -> Picture {
    let mut p = black(width, height);
    let shift = frame * 3 + camera * 97;
    for plane in 0..3 {
        let sub = usize::from(plane > 0);
        let (w, h) = ((width as usize) >> sub, (height as usize) >> sub);
        let stride = p.stride(plane);
        let data = p.data_mut(plane);
        for y in 0..h {
            for x in 0..w {
                let (sx, sy) = ((x + shift) as u32, y as u32);
                let texture = (sx.wrapping_mul(2_654_435_761) ^ sy.wrapping_mul(40_503)) >> 27;
                let v = if plane == 0 {
                    (sx / 8 + sy / 6) % 160 + 40 + texture
                } else {
                    128 + ((sx / 16 + sy / 16) % 32)
                };
                data[y * stride + x] = v as u8;
            }
        }
    }
    p
}

/// What the rooms take: 720p30 H.264 mode 1 at 1.8 Mbit/s.
pub const HD: SendMode = SendMode {
    width: 1280,
    height: 720,
    fps: FPS,
};

pub fn output() -> Output {
    Output {
        codec: VideoCodec::H264,
        packetization_mode: 1,
        mode: HD,
        kbps: 1800,
    }
}

/// A camera's RTP payloads, frame by frame (sequence, timestamp, marker,
/// payload), as its room would send them.
pub type Camera = Vec<Vec<(u16, u32, bool, Bytes)>>;

/// Camera `n`'s first `frames` frames at `width`×`height`, H.264 mode 1
/// at 1.8 Mbit/s.
pub fn camera(n: usize, width: u32, height: u32, frames: usize) -> Camera {
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
    (0..frames)
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

/// One camera being decoded.
pub struct Decoding {
    assembler: FrameAssembler,
    pub decoder: VideoDecoder,
}

impl Decoding {
    pub fn new() -> Decoding {
        Decoding {
            assembler: FrameAssembler::new(VideoCodec::H264),
            decoder: VideoDecoder::new(VideoCodec::H264).unwrap(),
        }
    }

    /// Puts one frame's packets together and decodes it.
    pub fn take(&mut self, packets: &[(u16, u32, bool, Bytes)]) {
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

/// Time spent per stage.
#[derive(Default, Clone, Copy)]
pub struct Stages {
    pub decode: Duration,
    pub scale: Duration,
    /// Composing (pasting tiles, drawing labels): continuous presence.
    pub compose: Duration,
    pub encode: Duration,
}

impl Stages {
    pub fn total(&self) -> Duration {
        self.decode + self.scale + self.compose + self.encode
    }
}

/// One encoder and its fitter (what the worker calls a stream).
pub struct Encoding {
    fitter: Fitter,
    pub encoder: VideoEncoder,
    pub bytes: usize,
}

impl Encoding {
    pub fn new() -> Encoding {
        Encoding {
            fitter: Fitter::new(HD.width, HD.height),
            encoder: VideoEncoder::new(output()).unwrap(),
            bytes: 0,
        }
    }

    pub fn encode(&mut self, picture: &Picture, frame: usize, stages: &mut Stages) {
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
/// The meeting's video work for the cameras' frames: the speaker (camera 0,
/// 640x480) watched by every other room, the previous speaker (camera 1,
/// 720p) watched by the speaker. `shared`: one encoder per distinct
/// picture (MRA); otherwise a decode and an encoder for every room.
pub fn speaker_only(cameras: &[Camera], rooms: usize, shared: bool) -> Stages {
    let mut stages = Stages::default();
    // Shared: one decoder and encoder per watched camera. Not shared: one
    // per room, room 0 (the speaker) watching camera 1, the others 0.
    let decoders = if shared { 2 } else { rooms };
    let watched = |d: usize| usize::from(if shared { d == 1 } else { d == 0 });
    let mut decoding: Vec<Decoding> = (0..decoders).map(|_| Decoding::new()).collect();
    let mut encoding: Vec<Encoding> = (0..decoders).map(|_| Encoding::new()).collect();
    for f in 0..cameras[0].len() {
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
pub fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
