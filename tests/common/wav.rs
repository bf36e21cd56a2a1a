//! Test audio: writing tone files for peers to send, reading what they
//! recorded, and measuring how much of it is a given frequency.

use std::path::Path;

/// Writes 48 kHz stereo 16-bit PCM made of `segments` (frequencies in Hz, 0
/// for silence, played together; seconds).
pub fn write_tones(path: &Path, segments: &[(&[f64], f64)]) {
    let mut samples = Vec::new();
    let mut n = 0usize;
    for (freqs, secs) in segments {
        for _ in 0..(secs * 48000.0) as usize {
            let t = n as f64 / 48000.0;
            let v: f64 = freqs
                .iter()
                .map(|f| 0.25 * (2.0 * std::f64::consts::PI * f * t).sin())
                .sum();
            let s = (v * 32767.0) as i16;
            samples.extend_from_slice(&[s, s]);
            n += 1;
        }
    }
    let data: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    let mut out = Vec::with_capacity(44 + data.len());
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&48000u32.to_le_bytes());
    out.extend_from_slice(&(48000u32 * 4).to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&data);
    std::fs::write(path, out).unwrap();
}

/// A recording: sample rate and the first channel.
pub struct Recording {
    pub rate: u32,
    pub samples: Vec<i16>,
}

/// Reads a 16-bit PCM WAV file.
pub fn read(path: &Path) -> Recording {
    let bytes = std::fs::read(path).unwrap();
    let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
    let u32_at =
        |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    let (mut pos, mut channels, mut rate) = (12, 1usize, 8000);
    while pos + 8 <= bytes.len() {
        let size = u32_at(pos + 4) as usize;
        let body = pos + 8;
        match &bytes[pos..pos + 4] {
            b"fmt " => {
                channels = usize::from(u16_at(body + 2));
                rate = u32_at(body + 4);
            }
            b"data" => {
                let end = (body + size).min(bytes.len());
                let samples = bytes[body..end]
                    .chunks_exact(2 * channels)
                    .map(|f| i16::from_le_bytes([f[0], f[1]]))
                    .collect();
                return Recording { rate, samples };
            }
            _ => {}
        }
        pos = body + size + size % 2;
    }
    Recording {
        rate,
        samples: Vec::new(),
    }
}

impl Recording {
    pub fn seconds(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.rate)
    }

    /// The part from `from` to `to` seconds (clamped).
    pub fn window(&self, from: f64, to: f64) -> &[i16] {
        let at = |s: f64| ((s * f64::from(self.rate)) as usize).min(self.samples.len());
        &self.samples[at(from)..at(to)]
    }

    pub fn rms(samples: &[i16]) -> f64 {
        let e: f64 = samples.iter().map(|&s| f64::from(s).powi(2)).sum();
        (e / samples.len().max(1) as f64).sqrt()
    }

    /// Share of the energy of `samples` that lies at `freq` (Goertzel; 1.0 = pure tone).
    pub fn share(&self, samples: &[i16], freq: f64) -> f64 {
        media::tones::tone_share(samples, freq, self.rate)
    }

    /// The last two seconds before hang-up (all rooms were in by then).
    pub fn tail(&self) -> &[i16] {
        let end = self.seconds() - 0.3;
        self.window(end - 2.0, end)
    }

    /// Asserts that `room`, which recorded this, heard each of the `others`
    /// tones in its [`Recording::tail`] and not its `own`.
    pub fn assert_hears(&self, room: &str, others: &[f64], own: f64) {
        let audio = self.tail();
        for &f in others {
            let share = self.share(audio, f);
            assert!(
                share > 0.25 / others.len() as f64,
                "{room} should hear {f} Hz: share {share:.3}, strongest {} Hz, rms {:.0}",
                self.peak(audio),
                Recording::rms(audio)
            );
        }
        let echo = self.share(audio, own);
        assert!(
            echo < 0.02,
            "{room} hears its own {own} Hz: share {echo:.3}"
        );
    }

    /// Asserts that `room`, which recorded this, hears a tone at `freq` in
    /// its [`Recording::tail`], however quiet next to louder ones (a
    /// browser's noise suppression tames a steady tone): a clear line, 30
    /// times the energy 70 Hz either side.
    pub fn assert_tone(&self, room: &str, freq: f64) {
        let audio = self.tail();
        let share = self.share(audio, freq);
        let beside = self
            .share(audio, freq - 70.0)
            .max(self.share(audio, freq + 70.0));
        assert!(
            share > 0.001 && share > 30.0 * beside,
            "{room} should hear {freq} Hz: share {share:.4} (beside it {beside:.5}), strongest {} Hz",
            self.peak(audio)
        );
    }

    /// The longest stretch of `samples` in which the tone at `freq` is
    /// missing (its amplitude under a fifth of its median), in seconds,
    /// measured in 10 ms steps.
    pub fn longest_gap(&self, samples: &[i16], freq: f64) -> f64 {
        let step = (self.rate / 100) as usize;
        let amplitudes: Vec<f64> = samples
            .chunks_exact(step)
            .map(|w| (self.share(w, freq)).sqrt() * Recording::rms(w))
            .collect();
        let mut sorted = amplitudes.clone();
        sorted.sort_by(f64::total_cmp);
        let median = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
        let (mut run, mut longest) = (0usize, 0usize);
        for a in amplitudes {
            run = if a < median / 5.0 { run + 1 } else { 0 };
            longest = longest.max(run);
        }
        longest as f64 * 0.01
    }

    /// The strongest frequency in 10 Hz steps between 100 Hz and 4 kHz.
    pub fn peak(&self, samples: &[i16]) -> f64 {
        (10..400)
            .map(|f| f64::from(f) * 10.0)
            .max_by(|a, b| self.share(samples, *a).total_cmp(&self.share(samples, *b)))
            .unwrap()
    }
}
