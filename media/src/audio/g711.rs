//! G.711 µ-law and A-law (ITU-T G.711), 8 kHz, resampled to and from 48 kHz.

use super::plc::Plc;
use super::{Codec, CodecError, Resampler, RATE};

#[derive(Debug, Clone, Copy)]
pub enum Law {
    Mu,
    A,
}

pub struct G711 {
    law: Law,
    up: Resampler,
    down: Resampler,
    plc: Plc,
    narrow: Vec<i16>,
}

impl G711 {
    pub fn new(law: Law) -> G711 {
        G711 {
            law,
            up: Resampler::new(8000, RATE),
            down: Resampler::new(RATE, 8000),
            plc: Plc::default(),
            narrow: Vec::with_capacity(1920),
        }
    }
}

impl Codec for G711 {
    fn decode(&mut self, payload: &[u8], pcm: &mut Vec<i16>) -> Result<(), CodecError> {
        self.narrow.clear();
        self.narrow.extend(payload.iter().map(|&b| match self.law {
            Law::Mu => ulaw_decode(b),
            Law::A => alaw_decode(b),
        }));
        let start = pcm.len();
        self.up.process(&self.narrow, pcm);
        self.plc.remember(&pcm[start..]);
        Ok(())
    }

    fn conceal(&mut self, _next: Option<&[u8]>, samples: usize, pcm: &mut Vec<i16>) {
        self.plc.conceal(samples, pcm);
    }

    fn encode(&mut self, pcm: &[i16], payload: &mut Vec<u8>) -> Result<(), CodecError> {
        self.narrow.clear();
        self.down.process(pcm, &mut self.narrow);
        payload.extend(self.narrow.iter().map(|&s| match self.law {
            Law::Mu => ulaw_encode(s),
            Law::A => alaw_encode(s),
        }));
        Ok(())
    }
}

const BIAS: i32 = 0x84;
const CLIP: i32 = 32635;

pub fn ulaw_encode(sample: i16) -> u8 {
    let mut s = i32::from(sample);
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    s = s.min(CLIP) + BIAS;
    let exponent = (7 - (s.leading_zeros() as i32 - 17)).clamp(0, 7);
    let mantissa = (s >> (exponent + 3)) & 0x0f;
    !(sign | (exponent << 4) as u8 | mantissa as u8)
}

pub fn ulaw_decode(byte: u8) -> i16 {
    let b = !byte;
    let exponent = i32::from((b >> 4) & 0x07);
    let mantissa = i32::from(b & 0x0f);
    let magnitude = (((mantissa << 3) + BIAS) << exponent) - BIAS;
    if b & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

pub fn alaw_encode(sample: i16) -> u8 {
    let mut s = i32::from(sample);
    let sign = if s >= 0 { 0x80 } else { 0x00 };
    if s < 0 {
        s = -s - 1;
    }
    s = s.min(32767) >> 3;
    let byte = if s < 32 {
        (s >> 1) as u8
    } else {
        let exponent = (31 - s.leading_zeros() as i32) - 4;
        let mantissa = (s >> exponent) & 0x0f;
        ((exponent << 4) as u8) | mantissa as u8
    };
    (byte | sign) ^ 0x55
}

pub fn alaw_decode(byte: u8) -> i16 {
    let b = byte ^ 0x55;
    let exponent = i32::from((b >> 4) & 0x07);
    let mantissa = i32::from(b & 0x0f);
    let magnitude = if exponent == 0 {
        (mantissa << 4) + 8
    } else {
        ((mantissa << 4) + 0x108) << (exponent - 1)
    };
    if b & 0x80 != 0 {
        magnitude as i16
    } else {
        -magnitude as i16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn laws_round_trip_within_their_quantisation() {
        for s in (-32768i32..=32767).step_by(7) {
            let s = s as i16;
            for (enc, dec) in [
                (ulaw_encode as fn(i16) -> u8, ulaw_decode as fn(u8) -> i16),
                (alaw_encode, alaw_decode),
            ] {
                let back = dec(enc(s));
                let err = (i32::from(back) - i32::from(s)).abs();
                let allowed = (i32::from(s).abs() / 16).max(16) + 8;
                assert!(err <= allowed, "{s} -> {back}");
            }
        }
    }

    #[test]
    fn known_code_points() {
        assert_eq!(ulaw_encode(0), 0xff);
        assert_eq!(alaw_encode(0), 0xd5);
        assert_eq!(ulaw_decode(0xff), 0);
        assert_eq!(ulaw_decode(0x00), -32124);
        assert_eq!(alaw_decode(0xd5), 8);
    }
}
