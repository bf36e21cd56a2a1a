//! Audio at the mixer rate: every codec decodes to and encodes from 48 kHz
//! mono 16-bit samples behind the one [`Codec`] trait; the resampler and
//! packet-loss concealment they share live beside them.

mod g711;
mod g722;
mod opus;
mod plc;
mod resample;

pub use g711::ulaw_decode as g711_ulaw_decode;
pub use resample::Resampler;

pub use media_api::{AudioCodec, CodecOptions};

/// Mixer sample rate.
pub const RATE: u32 = 48_000;
/// Samples in one 20 ms mixer frame.
pub const FRAME: usize = 960;
/// One mixer frame.
pub type Frame = [i16; FRAME];

/// Why a codec call failed.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("opus: {0}")]
    Opus(#[from] ::opus::Error),
    #[error("ffmpeg: {0}")]
    Ffmpeg(#[from] ffmpeg_next::Error),
    #[error("payload of {0} bytes cannot be decoded")]
    BadPayload(usize),
}

/// One direction-pair of a leg's codec: RTP payloads in and out, 48 kHz PCM inside.
pub trait Codec: Send {
    /// Decodes one RTP payload, appending 48 kHz samples to `pcm`.
    fn decode(&mut self, payload: &[u8], pcm: &mut Vec<i16>) -> Result<(), CodecError>;
    /// Fills `samples` 48 kHz samples for a lost packet: from `next`'s
    /// forward error correction where the codec has it, else concealment.
    fn conceal(&mut self, next: Option<&[u8]>, samples: usize, pcm: &mut Vec<i16>);
    /// Encodes one packet from 48 kHz samples (a whole ptime's worth).
    fn encode(&mut self, pcm: &[i16], payload: &mut Vec<u8>) -> Result<(), CodecError>;
}

/// The codec implementation for `codec`.
pub fn new_codec(codec: AudioCodec, options: CodecOptions) -> Result<Box<dyn Codec>, CodecError> {
    Ok(match codec {
        AudioCodec::Opus => Box::new(opus::Opus::new(options)?),
        AudioCodec::G722 => Box::new(g722::G722::new()?),
        AudioCodec::Pcmu => Box::new(g711::G711::new(g711::Law::Mu)),
        AudioCodec::Pcma => Box::new(g711::G711::new(g711::Law::A)),
    })
}

/// Samples at 48 kHz per RTP timestamp unit of `codec` (G.722's RTP clock is 8 kHz).
pub fn samples_per_tick(codec: AudioCodec) -> u32 {
    RATE / codec.clock_rate()
}

#[cfg(test)]
pub(crate) mod test_signal {
    use super::*;

    /// A sine of `freq` Hz at 48 kHz, `amplitude` of full scale.
    pub fn sine(freq: f64, amplitude: f64, samples: usize, phase0: usize) -> Vec<i16> {
        (phase0..phase0 + samples)
            .map(|n| {
                let t = n as f64 / f64::from(RATE);
                (amplitude * 32767.0 * (2.0 * std::f64::consts::PI * freq * t).sin()) as i16
            })
            .collect()
    }

    /// Energy at `freq` relative to total energy at 48 kHz (Goertzel), 0..1.
    pub fn tone_share(pcm: &[i16], freq: f64) -> f64 {
        crate::tones::tone_share(pcm, freq, RATE)
    }
}

#[cfg(test)]
mod tests {
    use super::test_signal::{sine, tone_share};
    use super::*;

    /// Every codec carries a 1 kHz tone through encode and decode.
    #[test]
    fn each_codec_round_trips_a_tone() {
        for codec in [
            AudioCodec::Pcmu,
            AudioCodec::Pcma,
            AudioCodec::G722,
            AudioCodec::Opus,
        ] {
            let mut c = new_codec(codec, CodecOptions::default()).unwrap();
            let mut decoded = Vec::new();
            let mut payload = Vec::new();
            for i in 0..25 {
                let frame = sine(1000.0, 0.3, FRAME, i * FRAME);
                payload.clear();
                c.encode(&frame, &mut payload).unwrap();
                c.decode(&payload, &mut decoded).unwrap();
            }
            assert_eq!(decoded.len(), 25 * FRAME, "{codec:?}");
            let tail = &decoded[10 * FRAME..];
            let share = tone_share(tail, 1000.0);
            assert!(share > 0.8, "{codec:?}: 1 kHz share {share:.2}");
        }
    }

    #[test]
    fn concealment_fills_the_gap() {
        for codec in [AudioCodec::Pcmu, AudioCodec::G722, AudioCodec::Opus] {
            let mut c = new_codec(
                codec,
                CodecOptions {
                    fec: true,
                    ..CodecOptions::default()
                },
            )
            .unwrap();
            let mut pcm = Vec::new();
            let mut payload = Vec::new();
            c.encode(&sine(500.0, 0.3, FRAME, 0), &mut payload).unwrap();
            c.decode(&payload, &mut pcm).unwrap();
            c.conceal(None, FRAME, &mut pcm);
            assert_eq!(pcm.len(), 2 * FRAME, "{codec:?}");
            assert!(
                pcm[FRAME..].iter().any(|&s| s != 0),
                "{codec:?} concealed with sound"
            );
        }
    }
}
