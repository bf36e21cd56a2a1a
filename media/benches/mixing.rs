//! Audio pipeline cost: rooms in one meeting, each frame going through the
//! media thread's work — jitter buffer, decode of the room's codec, Opus
//! encode of what it publishes to the meeting, Opus decode of each
//! participant's stream (once per node, shared by the rooms that hear it),
//! the mix of the others for each room, and encode for the room —
//! against the direct path of the same codec's bare encode and decode of
//! the same audio, in the same run. Prints how many rooms one core carries
//! in real time each way, and the ratio (pipeline / codec alone).
//! Run: `cargo bench -p media --bench mixing`.

use std::time::Instant;

use media::audio::{new_codec, CodecOptions, Frame, FRAME};
use media::jitter::{JitterBuffer, Pop};
use media::mixer::{level, mix};
use media_api::AudioCodec;

const ROOMS: usize = 8;
const SECONDS: usize = 5;
/// Alternating runs of each path; the median is reported.
const ROUNDS: usize = 7;
const FRAMES: usize = SECONDS * 50;

fn speechlike(room: usize, frame: usize) -> Frame {
    let mut f = [0i16; FRAME];
    for (i, s) in f.iter_mut().enumerate() {
        let t = (frame * FRAME + i) as f64 / 48000.0;
        let f0 = 200.0 + 60.0 * room as f64;
        *s = (6000.0
            * ((2.0 * std::f64::consts::PI * f0 * t).sin()
                + 0.3 * (2.0 * std::f64::consts::PI * 3.1 * f0 * t).sin())) as i16;
    }
    f
}

/// Encoded packets each room sends (prepared outside the timed part).
fn room_packets(codec: AudioCodec) -> Vec<Vec<Vec<u8>>> {
    (0..ROOMS)
        .map(|r| {
            let mut enc = new_codec(codec, CodecOptions::default()).unwrap();
            (0..FRAMES)
                .map(|f| {
                    let mut p = Vec::new();
                    enc.encode(&speechlike(r, f), &mut p).unwrap();
                    p
                })
                .collect()
        })
        .collect()
}

// Rooms × frames read best as two indices.
#[allow(clippy::needless_range_loop)]
/// The media thread's per-frame work for ROOMS rooms; returns seconds taken.
fn pipeline(codec: AudioCodec, packets: &[Vec<Vec<u8>>]) -> f64 {
    let new = |c| new_codec(c, CodecOptions::default()).unwrap();
    let mut codecs: Vec<_> = (0..ROOMS).map(|_| new(codec)).collect();
    // As the media thread does: no wider than the room's own audio.
    let publishing = CodecOptions {
        max_playback_rate: Some(codec.audio_rate()),
        ..CodecOptions::default()
    };
    let mut publishers: Vec<_> = (0..ROOMS)
        .map(|_| new_codec(AudioCodec::Opus, publishing).unwrap())
        .collect();
    // Each participant's stream is decoded once for every room that hears it.
    let mut hearing: Vec<_> = (0..ROOMS).map(|_| new(AudioCodec::Opus)).collect();
    let mut heard = vec![[0i16; FRAME]; ROOMS];
    let mut buffers: Vec<JitterBuffer> = (0..ROOMS).map(|_| JitterBuffer::default()).collect();
    let mut decoded: Vec<Vec<i16>> = (0..ROOMS).map(|_| Vec::with_capacity(4 * FRAME)).collect();
    let mut published: Vec<Vec<u8>> = (0..ROOMS).map(|_| Vec::with_capacity(1500)).collect();
    let mut input = [0i16; FRAME];
    let mut streams = vec![[0i16; FRAME]; ROOMS - 1];
    let mut pcm = Vec::with_capacity(4 * FRAME);
    let mut output = [0i16; FRAME];
    let mut payload = Vec::with_capacity(1500);
    let mut levels = 0u64;
    let started = Instant::now();
    for f in 0..FRAMES {
        // Packet times as a steady line delivers them: each arrives 15 ms
        // before the tick that plays it.
        let arrival = started + std::time::Duration::from_millis(20 * f as u64);
        let tick = arrival + std::time::Duration::from_millis(15);
        for r in 0..ROOMS {
            buffers[r].push(
                r as u32,
                f as u16,
                (f * 960) as u32,
                &packets[r][f],
                arrival,
            );
            while decoded[r].len() < FRAME {
                match buffers[r].pop(tick) {
                    Pop::Packet { payload, .. } => {
                        codecs[r].decode(payload, &mut decoded[r]).unwrap()
                    }
                    Pop::Lost { next } => codecs[r].conceal(next, FRAME, &mut decoded[r]),
                    Pop::Empty => break,
                }
            }
            let n = decoded[r].len().min(FRAME);
            input[..n].copy_from_slice(&decoded[r][..n]);
            input[n..].fill(0);
            decoded[r].drain(..n);
            levels += u64::from(level(&input));
            published[r].clear();
            publishers[r].encode(&input, &mut published[r]).unwrap();
        }
        for o in 0..ROOMS {
            pcm.clear();
            hearing[o].decode(&published[o], &mut pcm).unwrap();
            heard[o].copy_from_slice(&pcm[..FRAME]);
            levels += u64::from(level(&heard[o]));
        }
        for r in 0..ROOMS {
            let others = (0..ROOMS).filter(|&o| o != r);
            for (slot, o) in others.enumerate() {
                streams[slot] = heard[o];
            }
            mix(&streams, &mut output);
            payload.clear();
            codecs[r].encode(&output, &mut payload).unwrap();
        }
    }
    std::hint::black_box(levels);
    started.elapsed().as_secs_f64()
}

#[allow(clippy::needless_range_loop)]
/// The direct path: the codec's own decode of each room's packets and one
/// encode per room, with nothing in between.
fn direct(codec: AudioCodec, packets: &[Vec<Vec<u8>>]) -> f64 {
    let mut codecs: Vec<_> = (0..ROOMS)
        .map(|_| new_codec(codec, CodecOptions::default()).unwrap())
        .collect();
    let mut pcm = Vec::with_capacity(4 * FRAME);
    let mut payload = Vec::with_capacity(1500);
    let frames: Vec<Frame> = (0..ROOMS).map(|r| speechlike(r, 0)).collect();
    let started = Instant::now();
    for f in 0..FRAMES {
        for r in 0..ROOMS {
            pcm.clear();
            codecs[r].decode(&packets[r][f], &mut pcm).unwrap();
            payload.clear();
            codecs[r].encode(&frames[r], &mut payload).unwrap();
        }
    }
    started.elapsed().as_secs_f64()
}

fn main() {
    println!(
        "{ROOMS} rooms in one meeting, {SECONDS} s of audio each, one core, median of {ROUNDS}:"
    );
    for codec in [AudioCodec::Pcmu, AudioCodec::G722, AudioCodec::Opus] {
        let packets = room_packets(codec);
        let (mut ours, mut bare) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            ours.push(pipeline(codec, &packets));
            bare.push(direct(codec, &packets));
        }
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (ours, bare) = (median(ours), median(bare));
        let per_core = |secs: f64| (ROOMS * SECONDS) as f64 / secs;
        println!(
            "{:>5}: media pipeline {:.0} rooms/core in real time, codec alone {:.0}, ratio {:.2}",
            codec.rtpmap().split('/').next().unwrap_or_default(),
            per_core(ours),
            per_core(bare),
            bare / ours
        );
    }
}
