//! Smooth weighted round robin (nginx's): each pick, every eligible
//! backend gains its weight; the one with the most credit wins and pays
//! the total. Weights 5:1:1 give a a b a c a a, not a a a a a b c.

use super::{Backend, Scheduler};

#[derive(Debug, Default)]
pub struct SmoothWeightedRoundRobin {
    credit: Vec<i64>,
}

impl Scheduler for SmoothWeightedRoundRobin {
    fn update(&mut self, backends: &[Backend]) {
        self.credit.resize(backends.len(), 0);
    }

    fn pick(&mut self, _key: u64, backends: &[Backend]) -> Option<usize> {
        self.credit.resize(backends.len(), 0);
        let mut total = 0i64;
        let mut best: Option<usize> = None;
        for (i, b) in backends.iter().enumerate() {
            if !b.eligible() {
                continue;
            }
            self.credit[i] += i64::from(b.weight);
            total += i64::from(b.weight);
            if best.is_none_or(|j| self.credit[i] > self.credit[j]) {
                best = Some(i);
            }
        }
        let chosen = best?;
        self.credit[chosen] -= total;
        Some(chosen)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_weighted, counts, pool};
    use super::*;

    #[test]
    fn smooth_sequence_and_exact_weights() {
        let backends = vec![
            Backend::new("a", 5),
            Backend::new("b", 1),
            Backend::new("c", 1),
        ];
        let mut s = SmoothWeightedRoundRobin::default();
        s.update(&backends);
        let seq: String = (0..7)
            .map(|_| backends[s.pick(0, &backends).unwrap()].name.clone())
            .collect();
        assert_eq!(seq, "aabacaa");
        let mut backends = pool(3, 1);
        backends[0].weight = 3;
        assert_weighted(&counts(&mut s, &backends, 50_000), &backends, 0.001);
    }

    #[test]
    fn down_and_draining_backends_get_nothing() {
        let mut backends = pool(3, 1);
        backends[1].healthy = false;
        backends[2].draining = true;
        let mut s = SmoothWeightedRoundRobin::default();
        assert_eq!(counts(&mut s, &backends, 100), vec![100, 0, 0]);
        backends[0].healthy = false;
        assert_eq!(s.pick(0, &backends), None);
    }
}
