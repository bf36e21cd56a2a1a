//! G.722 (ITU-T G.722, 64 kbit/s, 16 kHz audio on an 8 kHz RTP clock)
//! through FFmpeg's `adpcm_g722`, resampled to and from 48 kHz.

use ffmpeg_next::codec::packet::Borrow;
use ffmpeg_next::codec::{self, Context, Id};
use ffmpeg_next::format::sample::{Sample, Type};
use ffmpeg_next::{frame, ChannelLayout, Packet};

use super::plc::Plc;
use super::{Codec, CodecError, Resampler, RATE};

const G722_RATE: u32 = 16_000;

pub struct G722 {
    encoder: codec::encoder::audio::Encoder,
    decoder: codec::decoder::Audio,
    up: Resampler,
    down: Resampler,
    plc: Plc,
    wide: Vec<i16>,
    in_frame: frame::Audio,
    out_frame: frame::Audio,
    packet: Packet,
}

impl G722 {
    pub fn new() -> Result<G722, CodecError> {
        ffmpeg_next::init()?;
        let codec = ffmpeg_next::encoder::find(Id::ADPCM_G722)
            .ok_or(ffmpeg_next::Error::EncoderNotFound)?;
        let mut enc = Context::new_with_codec(codec).encoder().audio()?;
        enc.set_rate(G722_RATE as i32);
        enc.set_format(Sample::I16(Type::Packed));
        enc.set_channel_layout(ChannelLayout::MONO);
        enc.set_time_base((1, G722_RATE as i32));
        let encoder = enc.open_as(codec)?;
        let dcodec = ffmpeg_next::decoder::find(Id::ADPCM_G722)
            .ok_or(ffmpeg_next::Error::DecoderNotFound)?;
        let decoder = Context::new_with_codec(dcodec)
            .decoder()
            .open_as(dcodec)?
            .audio()?;
        Ok(G722 {
            encoder,
            decoder,
            up: Resampler::new(G722_RATE, RATE),
            down: Resampler::new(RATE, G722_RATE),
            plc: Plc::default(),
            wide: Vec::with_capacity(1920),
            in_frame: frame::Audio::empty(),
            out_frame: frame::Audio::empty(),
            packet: Packet::empty(),
        })
    }
}

impl Codec for G722 {
    fn decode(&mut self, payload: &[u8], pcm: &mut Vec<i16>) -> Result<(), CodecError> {
        self.decoder.send_packet(&Borrow::new(payload))?;
        let start = pcm.len();
        while self.decoder.receive_frame(&mut self.out_frame).is_ok() {
            let n = self.out_frame.samples();
            let bytes = &self.out_frame.data(0)[..n * 2];
            self.wide.clear();
            self.wide.extend(
                bytes
                    .chunks_exact(2)
                    .map(|b| i16::from_ne_bytes([b[0], b[1]])),
            );
            self.up.process(&self.wide, pcm);
        }
        self.plc.remember(&pcm[start..]);
        Ok(())
    }

    fn conceal(&mut self, _next: Option<&[u8]>, samples: usize, pcm: &mut Vec<i16>) {
        self.plc.conceal(samples, pcm);
    }

    fn encode(&mut self, pcm: &[i16], payload: &mut Vec<u8>) -> Result<(), CodecError> {
        self.wide.clear();
        self.down.process(pcm, &mut self.wide);
        let n = self.wide.len();
        if self.in_frame.samples() != n {
            self.in_frame = frame::Audio::new(Sample::I16(Type::Packed), n, ChannelLayout::MONO);
            self.in_frame.set_rate(G722_RATE);
        }
        for (dst, s) in self
            .in_frame
            .data_mut(0)
            .chunks_exact_mut(2)
            .zip(&self.wide)
        {
            dst.copy_from_slice(&s.to_ne_bytes());
        }
        self.encoder.send_frame(&self.in_frame)?;
        while self.encoder.receive_packet(&mut self.packet).is_ok() {
            payload.extend_from_slice(self.packet.data().unwrap_or_default());
        }
        Ok(())
    }
}
