//! Audio mixing for a room, sans-IO: the room hears the sum of the
//! meeting's streams (every other participant's; the meeting never sends a
//! participant its own), soft-clipped instead of wrapping; frame levels in
//! RFC 6464 terms (-dBov); active-speaker choice with hysteresis.

use crate::audio::Frame;

/// Where soft clipping starts (3/4 of full scale).
const KNEE: f32 = 24576.0;
const FULL: f32 = 32767.0;

/// Sums `inputs` into `out`, soft-clipped.
pub fn mix(inputs: &[Frame], out: &mut Frame) {
    for (i, o) in out.iter_mut().enumerate() {
        *o = soft_clip(inputs.iter().map(|f| i32::from(f[i])).sum());
    }
}

/// Linear below the knee, then a tanh curve that approaches full scale.
pub fn soft_clip(x: i32) -> i16 {
    let mag = (x as f32).abs();
    if mag <= KNEE {
        return x as i16;
    }
    let over = (mag - KNEE) / (FULL - KNEE);
    let y = KNEE + (FULL - KNEE) * over.tanh();
    (y.copysign(x as f32)) as i16
}

/// RFC 6464 audio level of a frame: 0 (full scale) to 127 (-127 dBov, silence).
pub fn level(frame: &[i16]) -> u8 {
    let energy: f64 = frame.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    let rms = (energy / frame.len().max(1) as f64).sqrt();
    if rms < 1.0 {
        return 127;
    }
    let dbov = 20.0 * (rms / 32767.0).log10();
    (-dbov).round().clamp(0.0, 127.0) as u8
}

/// Levels quieter than this (-dBov) are not speech.
const SPEECH: f64 = 50.0;
/// A new speaker must be this much louder (dB) than the current one...
const MARGIN_DB: f64 = 6.0;
/// ...for this many frames in a row (300 ms).
const HOLD_FRAMES: u32 = 15;

/// Picks the active speaker among streams keyed by `K`, one frame at a time.
#[derive(Debug)]
pub struct SpeakerDetector<K> {
    /// Smoothed level per stream, in dB below full scale (lower = louder).
    smoothed: Vec<(K, f64)>,
    current: Option<K>,
    challenger: Option<(K, u32)>,
}

impl<K> Default for SpeakerDetector<K> {
    fn default() -> Self {
        SpeakerDetector {
            smoothed: Vec::new(),
            current: None,
            challenger: None,
        }
    }
}

impl<K: Copy + PartialEq> SpeakerDetector<K> {
    pub fn current(&self) -> Option<K> {
        self.current
    }

    /// Feeds one frame's levels; returns the new speaker when it changes.
    pub fn update(&mut self, levels: &[(K, u8)]) -> Option<K> {
        self.smoothed
            .retain(|(leg, _)| levels.iter().any(|(l, _)| l == leg));
        for &(leg, lvl) in levels {
            match self.smoothed.iter_mut().find(|(l, _)| *l == leg) {
                Some((_, s)) => *s += (f64::from(lvl) - *s) * 0.2,
                None => self.smoothed.push((leg, f64::from(lvl))),
            }
        }
        if self
            .current
            .is_some_and(|c| !self.smoothed.iter().any(|(l, _)| *l == c))
        {
            self.current = None;
        }
        let loudest = self
            .smoothed
            .iter()
            .filter(|(_, s)| *s < SPEECH)
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .copied();
        let current_level = self
            .current
            .and_then(|c| self.smoothed.iter().find(|(l, _)| *l == c))
            .map_or(127.0, |(_, s)| *s);
        let Some((leg, lvl)) = loudest else {
            self.challenger = None;
            return None;
        };
        if Some(leg) == self.current || lvl > current_level - MARGIN_DB {
            self.challenger = None;
            return None;
        }
        let frames = match self.challenger {
            Some((c, n)) if c == leg => n + 1,
            _ => 1,
        };
        if frames >= HOLD_FRAMES || self.current.is_none() && frames >= HOLD_FRAMES / 3 {
            self.current = Some(leg);
            self.challenger = None;
            return Some(leg);
        }
        self.challenger = Some((leg, frames));
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::FRAME;

    fn frame(value: i16) -> Frame {
        [value; FRAME]
    }

    #[test]
    fn streams_are_summed_and_loud_sums_clipped_softly_without_wrapping() {
        let mut out = frame(0);
        mix(&[frame(100), frame(20), frame(3)], &mut out);
        assert_eq!(out[0], 123);
        mix(&[frame(30000), frame(30000)], &mut out);
        assert!(out[0] > 30000, "{}", out[0]);
        mix(&[], &mut out);
        assert_eq!(out[0], 0, "nobody else: silence");
        assert_eq!(soft_clip(-60000), -soft_clip(60000));
        assert_eq!(soft_clip(1000), 1000);
        assert!(soft_clip(25000) < 25000 && soft_clip(25000) > 24576);
    }

    #[test]
    fn levels_are_minus_dbov() {
        assert_eq!(level(&frame(0)), 127);
        assert_eq!(level(&frame(32767)), 0);
        assert_eq!(level(&frame(3277)), 20);
    }

    #[test]
    fn the_speaker_changes_only_for_a_clearly_louder_sustained_voice() {
        let (a, b) = (1u64, 2u64);
        let mut d = SpeakerDetector::default();
        let mut first = None;
        for _ in 0..10 {
            first = first.or(d.update(&[(a, 20), (b, 127)]));
        }
        assert_eq!(first, Some(a));
        // b is only 3 dB louder: no switch.
        for _ in 0..100 {
            assert_eq!(d.update(&[(a, 20), (b, 17)]), None);
        }
        // b is 15 dB louder but only briefly: no switch.
        for _ in 0..5 {
            assert_eq!(d.update(&[(a, 30), (b, 15)]), None);
        }
        let mut switched = None;
        let mut frames = 0;
        while switched.is_none() && frames < 100 {
            switched = d.update(&[(a, 40), (b, 15)]);
            frames += 1;
        }
        assert_eq!(switched, Some(b));
        assert!(frames >= 10, "held for a while first: {frames}");
    }
}
