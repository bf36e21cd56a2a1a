//! Active-speaker choice with hysteresis, sans-IO: fed one set of RFC 6464
//! levels (-dBov; 0 loudest, 127 silence) per 20 ms frame, it names a new
//! speaker only when someone is clearly louder than the current one for a
//! while. The SFU uses it for the meeting, a media worker for what a room
//! hears.

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
