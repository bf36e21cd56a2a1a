//! Rational-ratio polyphase resampler (windowed-sinc low-pass), streaming
//! and allocation-free after construction: 8 and 16 kHz codecs meet the
//! 48 kHz mixer through it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Input samples kept beyond one filter's span before sliding the history.
const SLACK: usize = 1024;

/// Converts a stream from one sample rate to another.
#[derive(Debug, Clone)]
pub struct Resampler {
    up: usize,
    down: usize,
    /// Per phase, its taps in oldest-to-newest sample order.
    taps: Arc<[f32]>,
    per_phase: usize,
    /// Recent input, oldest first; the newest is at `len - 1`.
    history: Vec<f32>,
    len: usize,
    /// Position of the next output between input samples, in 1/`up` steps.
    phase: usize,
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Filter taps by (from, to) rate pair.
type TapsCache = Mutex<HashMap<(usize, usize), Arc<[f32]>>>;

/// Windowed-sinc (Blackman) low-pass taps for an up/down pair, designed once
/// per pair and shared, laid out per phase for the dot product.
fn design(up: usize, per_phase: usize, from: usize, to: usize) -> Arc<[f32]> {
    static CACHE: OnceLock<TapsCache> = OnceLock::new();
    let mut cache = CACHE
        .get_or_init(Mutex::default)
        .lock()
        .expect("taps cache");
    cache
        .entry((from, to))
        .or_insert_with(|| {
            let n = per_phase * up;
            // Cut-off just below the lower Nyquist frequency, at the up-sampled rate.
            let cutoff = 0.45 * from.min(to) as f64 / (from * up) as f64;
            let centre = (n - 1) as f64 / 2.0;
            let tap = |i: usize| {
                let x = i as f64 - centre;
                let sinc = if x == 0.0 {
                    2.0 * cutoff
                } else {
                    (2.0 * std::f64::consts::PI * cutoff * x).sin() / (std::f64::consts::PI * x)
                };
                let w = 2.0 * std::f64::consts::PI * i as f64 / (n - 1) as f64;
                let blackman = 0.42 - 0.5 * w.cos() + 0.08 * (2.0 * w).cos();
                (sinc * blackman * up as f64) as f32
            };
            (0..up)
                .flat_map(|p| (0..per_phase).rev().map(move |k| tap(p + k * up)))
                .collect()
        })
        .clone()
}

impl Resampler {
    pub fn new(from: u32, to: u32) -> Resampler {
        let (from, to) = (from as usize, to as usize);
        let g = gcd(from, to);
        let (up, down) = (to / g, from / g);
        let per_phase = 16 * up.max(down) / up;
        Resampler {
            up,
            down,
            taps: design(up, per_phase, from, to),
            per_phase,
            history: vec![0.0; per_phase + SLACK],
            len: per_phase - 1,
            phase: 0,
        }
    }

    /// Resamples `input`, appending to `out`.
    pub fn process(&mut self, input: &[i16], out: &mut Vec<i16>) {
        if self.up == self.down {
            out.extend_from_slice(input);
            return;
        }
        let span = self.per_phase;
        for &x in input {
            if self.len == self.history.len() {
                self.history.copy_within(self.len + 1 - span..self.len, 0);
                self.len = span - 1;
            }
            self.history[self.len] = f32::from(x);
            self.len += 1;
            let window = &self.history[self.len - span..self.len];
            while self.phase < self.up {
                let taps = &self.taps[self.phase * span..(self.phase + 1) * span];
                let acc: f32 = window.iter().zip(taps).map(|(a, b)| a * b).sum();
                out.push(acc.round().clamp(-32768.0, 32767.0) as i16);
                self.phase += self.down;
            }
            self.phase -= self.up;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::test_signal::tone_share;

    fn sine_at(rate: u32, freq: f64, n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| {
                (10000.0 * (2.0 * std::f64::consts::PI * freq * i as f64 / f64::from(rate)).sin())
                    as i16
            })
            .collect()
    }

    #[test]
    fn lengths_follow_the_ratio() {
        for (from, to) in [(8000, 48000), (48000, 8000), (16000, 48000), (48000, 16000)] {
            let mut r = Resampler::new(from, to);
            let mut out = Vec::new();
            for _ in 0..10 {
                r.process(&vec![0; from as usize / 50], &mut out);
            }
            assert_eq!(out.len(), 10 * to as usize / 50, "{from}->{to}");
        }
    }

    #[test]
    fn a_tone_survives_up_and_down() {
        let mut up = Resampler::new(8000, 48000);
        let mut down = Resampler::new(48000, 8000);
        let mut wide = Vec::new();
        up.process(&sine_at(8000, 1000.0, 1600), &mut wide);
        assert!(tone_share(&wide[480..], 1000.0) > 0.95);
        let mut narrow = Vec::new();
        down.process(&wide, &mut narrow);
        let peak = narrow[400..]
            .iter()
            .map(|s| s.unsigned_abs())
            .max()
            .unwrap();
        assert!((9000..=11000).contains(&peak), "amplitude kept: {peak}");
    }

    #[test]
    fn downsampling_removes_what_the_lower_rate_cannot_carry() {
        let mut down = Resampler::new(48000, 8000);
        let mut out = Vec::new();
        down.process(&sine_at(48000, 6000.0, 9600), &mut out);
        let peak = out[200..].iter().map(|s| s.unsigned_abs()).max().unwrap();
        assert!(peak < 300, "6 kHz must not alias into 8 kHz audio: {peak}");
    }
}
