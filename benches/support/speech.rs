//! What benchmark rooms say: speech-like audio, 20 ms at a time.

use media::audio::{FRAME, RATE};

/// Speech-like audio: a 140 Hz voice with harmonics, syllables at 4 Hz.
pub fn speech(frame: usize) -> Vec<i16> {
    (0..FRAME)
        .map(|i| {
            let t = (frame * FRAME + i) as f64 / f64::from(RATE);
            let syllable = (0.5 + 0.5 * (2.0 * std::f64::consts::PI * 4.0 * t).sin()).powi(2);
            let voice: f64 = [(1.0, 0.5), (2.0, 0.3), (3.0, 0.15), (5.0, 0.05)]
                .iter()
                .map(|(h, a)| a * (2.0 * std::f64::consts::PI * 140.0 * h * t).sin())
                .sum();
            (9000.0 * syllable * voice) as i16
        })
        .collect()
}
