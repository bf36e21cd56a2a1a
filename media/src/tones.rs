//! In-band DTMF detection (Goertzel) for rooms that send key tones inside
//! the audio instead of RFC 4733 events: 20 ms frames at 48 kHz, a digit is
//! reported once it has lasted two frames, and again only after a pause.

use crate::audio::RATE;

const ROWS: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
const COLS: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
const KEYS: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];
/// Frame RMS below this (about -40 dBov) is not a key tone.
const MIN_RMS: f32 = 330.0;
/// The two tones must carry this share of the frame's energy...
const MIN_TONE_SHARE: f64 = 0.7;
/// ...and each at least this much (about 8 dB of twist either way).
const MIN_EACH: f64 = 0.12;

/// Share of the energy of `pcm` (sampled at `rate`) that lies at `freq`
/// (Goertzel; 1.0 for a pure tone at that frequency, 0.0 for silence).
pub fn tone_share(pcm: &[i16], freq: f64, rate: u32) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / f64::from(rate);
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2, mut energy) = (0.0f64, 0.0f64, 0.0f64);
    for &x in pcm {
        let x = f64::from(x);
        energy += x * x;
        let s = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    if energy == 0.0 {
        return 0.0;
    }
    2.0 * (s1 * s1 + s2 * s2 - coeff * s1 * s2) / (pcm.len() as f64 * energy)
}

/// The key whose tone pair dominates the frame, if any.
pub fn key_in(pcm: &[i16]) -> Option<char> {
    let energy: f32 = pcm.iter().map(|&s| f32::from(s) * f32::from(s)).sum();
    if pcm.is_empty() || (energy / pcm.len() as f32).sqrt() < MIN_RMS {
        return None;
    }
    let strongest = |freqs: &[f64; 4]| {
        freqs
            .iter()
            .map(|&f| tone_share(pcm, f, RATE))
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .expect("four")
    };
    let (row, row_share) = strongest(&ROWS);
    let (col, col_share) = strongest(&COLS);
    (row_share >= MIN_EACH && col_share >= MIN_EACH && row_share + col_share >= MIN_TONE_SHARE)
        .then_some(KEYS[row][col])
}

/// Turns per-frame detections into key presses.
#[derive(Debug, Default)]
pub struct ToneDetector {
    candidate: Option<(char, u32)>,
    reported: Option<char>,
}

impl ToneDetector {
    /// Feeds one 20 ms frame; returns a digit when a press is recognised.
    pub fn on_frame(&mut self, pcm: &[i16]) -> Option<char> {
        let key = key_in(pcm);
        let Some(key) = key else {
            self.candidate = None;
            self.reported = None;
            return None;
        };
        let frames = match self.candidate {
            Some((k, n)) if k == key => n + 1,
            _ => 1,
        };
        self.candidate = Some((key, frames));
        if frames >= 2 && self.reported != Some(key) {
            self.reported = Some(key);
            return Some(key);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::test_signal::sine;
    use crate::audio::FRAME;

    fn key_frames(row: f64, col: f64, frames: usize, start: usize) -> Vec<Vec<i16>> {
        let a = sine(row, 0.2, frames * FRAME, start);
        let b = sine(col, 0.2, frames * FRAME, start);
        a.iter()
            .zip(&b)
            .map(|(x, y)| x + y)
            .collect::<Vec<i16>>()
            .chunks(FRAME)
            .map(<[i16]>::to_vec)
            .collect()
    }

    #[test]
    fn every_key_is_recognised_once_per_press() {
        for (r, row) in ROWS.iter().enumerate() {
            for (c, col) in COLS.iter().enumerate() {
                let mut d = ToneDetector::default();
                let found: Vec<char> = key_frames(*row, *col, 4, 0)
                    .iter()
                    .filter_map(|f| d.on_frame(f))
                    .collect();
                assert_eq!(found, vec![KEYS[r][c]]);
            }
        }
    }

    #[test]
    fn the_same_key_twice_needs_a_pause_between() {
        let mut d = ToneDetector::default();
        let mut found = Vec::new();
        for f in key_frames(697.0, 1209.0, 3, 0) {
            found.extend(d.on_frame(&f));
        }
        found.extend(d.on_frame(&[0; FRAME]));
        for f in key_frames(697.0, 1209.0, 3, 0) {
            found.extend(d.on_frame(&f));
        }
        assert_eq!(found, vec!['1', '1']);
    }

    #[test]
    fn single_tones_speechlike_mixes_and_quiet_input_are_not_keys() {
        let mut d = ToneDetector::default();
        let single = sine(697.0, 0.3, 4 * FRAME, 0);
        let chord: Vec<i16> = sine(440.0, 0.2, 4 * FRAME, 0)
            .iter()
            .zip(sine(1209.0, 0.1, 4 * FRAME, 0))
            .zip(sine(697.0, 0.1, 4 * FRAME, 0))
            .map(|((a, b), c)| a + b + c)
            .collect();
        let quiet = key_frames(697.0, 1209.0, 4, 0)
            .concat()
            .iter()
            .map(|s| s / 100)
            .collect::<Vec<i16>>();
        for signal in [single, chord, quiet] {
            for f in signal.chunks(FRAME) {
                assert_eq!(d.on_frame(f), None);
            }
        }
    }
}
