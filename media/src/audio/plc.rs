//! Simple packet-loss concealment for codecs without their own (G.711,
//! G.722): the last good audio is repeated, fading by half per lost packet,
//! then silence after three.

/// Remembers the last decoded audio and conceals with it.
#[derive(Debug, Default)]
pub struct Plc {
    last: Vec<i16>,
    lost_in_row: u32,
}

impl Plc {
    /// Notes freshly decoded audio.
    pub fn remember(&mut self, decoded: &[i16]) {
        self.last.clear();
        self.last.extend_from_slice(decoded);
        self.lost_in_row = 0;
    }

    /// Appends `samples` concealment samples.
    pub fn conceal(&mut self, samples: usize, pcm: &mut Vec<i16>) {
        self.lost_in_row += 1;
        if self.last.is_empty() || self.lost_in_row > 3 {
            pcm.extend(std::iter::repeat_n(0, samples));
            return;
        }
        let shift = self.lost_in_row;
        let len = self.last.len();
        pcm.extend((0..samples).map(|i| self.last[i % len] >> shift));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fades_then_falls_silent() {
        let mut plc = Plc::default();
        plc.remember(&[1000; 4]);
        let mut out = Vec::new();
        for _ in 0..4 {
            plc.conceal(4, &mut out);
        }
        assert_eq!(&out[..4], &[500; 4]);
        assert_eq!(&out[4..8], &[250; 4]);
        assert_eq!(&out[12..], &[0; 4]);
    }
}
