//! Audio mixing for a room, sans-IO: the room hears the sum of the
//! meeting's streams (every other participant's; the meeting never sends a
//! participant its own), soft-clipped instead of wrapping; frame levels in
//! RFC 6464 terms (-dBov).

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
}
