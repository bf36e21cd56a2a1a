//! How late a stream's packets arrive, relative to the earliest ones: the
//! peak of that delay is what a jitter buffer must hold to never run dry.
//! It rises at once to a new peak and falls slowly (a line that jittered
//! recently will again), and the reference "earliest" creeps up so that a
//! sender's clock running slow does not read as growing delay.

/// The reference creeps up this much per packet (1 ms a second at 50
/// packets a second): far more than any clock drift, and it meets the
/// next packet that arrives early.
const CREEP_MS: f64 = 0.02;
/// The peak falls this much per packet (2 ms a second at 50 packets a
/// second).
const DECAY_MS: f64 = 0.04;
/// A packet this much later than the reference means the stream jumped
/// (its timestamps wrapped or restarted): start over from it.
const JUMP_MS: f64 = 1000.0;

#[derive(Debug, Clone, Default)]
pub struct DelayPeak {
    /// Smallest transit time seen (creeping up), ms.
    earliest: Option<f64>,
    peak: f64,
}

impl DelayPeak {
    /// Notes one packet's transit time (arrival minus its timestamp, in
    /// any fixed reference), ms.
    pub fn on_transit(&mut self, transit_ms: f64) {
        let earliest = match self.earliest {
            Some(e) if transit_ms - e > JUMP_MS => {
                self.peak = 0.0;
                transit_ms
            }
            Some(e) if e + CREEP_MS <= transit_ms => e + CREEP_MS,
            _ => transit_ms,
        };
        self.earliest = Some(earliest);
        self.peak = (self.peak - DECAY_MS).max(transit_ms - earliest).max(0.0);
    }

    /// The peak delay over the earliest arrivals, ms.
    pub fn peak_ms(&self) -> f64 {
        self.peak
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rises_at_once_falls_slowly_and_ignores_a_drifting_clock() {
        let mut d = DelayPeak::default();
        for i in 0..100 {
            d.on_transit(if i == 50 { 40.0 } else { 0.0 });
        }
        assert!((37.0..40.0).contains(&d.peak_ms()), "{}", d.peak_ms());
        for _ in 0..1000 {
            d.on_transit(0.0);
        }
        assert_eq!(d.peak_ms(), 0.0, "forgotten after 20 s of a clean line");
        // A sender whose clock runs 0.1 % slow: transit grows 0.02 ms a packet.
        let mut d = DelayPeak::default();
        for i in 0..10_000 {
            d.on_transit(f64::from(i) * 0.02);
        }
        assert!(d.peak_ms() < 1.0, "{}", d.peak_ms());
    }
}
