//! Opus (RFC 6716, RTP per RFC 7587) at 48 kHz mono: in-band FEC recovers a
//! lost packet from the next one when the room sends it, the decoder's own
//! concealment covers the rest, DTX is used when the room asked for it, and
//! the encoded bandwidth stops at `maxplaybackrate`. The encoder runs at
//! complexity [`COMPLEXITY`]: a gateway encodes once per room, and
//! libopus' default (10, the most) spends most of a room's CPU on the
//! SILK noise-shaping search and the music/speech analysis.

use ::opus::{Application, Bandwidth, Channels, Decoder, Encoder};

use super::{Codec, CodecError, CodecOptions, RATE};

/// Encoder complexity (0–10): 6 keeps SILK's delayed-decision quantizer
/// with three states (libopus' AVX2 path; two states fall back to plain C)
/// and skips the music/speech analysis that only 10 runs; G.711 rooms
/// per core went from 78 to 100–106 (`cargo bench --bench media_legs`),
/// for speech that listeners do not tell apart at these bitrates.
const COMPLEXITY: i32 = 6;

/// Largest decode: 120 ms at 48 kHz.
const MAX_SAMPLES: usize = 5760;

pub struct Opus {
    encoder: Encoder,
    decoder: Decoder,
    scratch: Vec<i16>,
    packet: [u8; 1500],
}

impl Opus {
    pub fn new(options: CodecOptions) -> Result<Opus, CodecError> {
        let mut encoder = Encoder::new(RATE, Channels::Mono, Application::Voip)?;
        encoder.set_complexity(COMPLEXITY)?;
        encoder.set_inband_fec(options.fec)?;
        if options.fec {
            encoder.set_packet_loss_perc(10)?;
        }
        encoder.set_dtx(options.dtx)?;
        if let Some(rate) = options.max_playback_rate {
            encoder.set_max_bandwidth(match rate {
                0..=8000 => Bandwidth::Narrowband,
                8001..=12000 => Bandwidth::Mediumband,
                12001..=16000 => Bandwidth::Wideband,
                16001..=24000 => Bandwidth::Superwideband,
                _ => Bandwidth::Fullband,
            })?;
        }
        Ok(Opus {
            encoder,
            decoder: Decoder::new(RATE, Channels::Mono)?,
            scratch: vec![0; MAX_SAMPLES],
            packet: [0; 1500],
        })
    }
}

impl Codec for Opus {
    fn decode(&mut self, payload: &[u8], pcm: &mut Vec<i16>) -> Result<(), CodecError> {
        let n = self.decoder.decode(payload, &mut self.scratch, false)?;
        pcm.extend_from_slice(&self.scratch[..n]);
        Ok(())
    }

    fn conceal(&mut self, next: Option<&[u8]>, samples: usize, pcm: &mut Vec<i16>) {
        let samples = samples.min(MAX_SAMPLES);
        let out = &mut self.scratch[..samples];
        let decoded = match next {
            Some(next) => self.decoder.decode(next, out, true),
            None => self.decoder.decode(&[], out, false),
        };
        match decoded {
            Ok(n) => {
                pcm.extend_from_slice(&out[..n]);
                pcm.extend(std::iter::repeat_n(0, samples - n.min(samples)));
            }
            Err(_) => pcm.extend(std::iter::repeat_n(0, samples)),
        }
    }

    fn encode(&mut self, pcm: &[i16], payload: &mut Vec<u8>) -> Result<(), CodecError> {
        let n = self.encoder.encode(pcm, &mut self.packet)?;
        payload.extend_from_slice(&self.packet[..n]);
        Ok(())
    }
}
