//! Maglev consistent hashing (Eisenbud et al., NSDI 2016) with weights:
//! every eligible backend fills a prime-sized lookup table (at least 100×
//! the backends, at least 65537) along its own permutation of the slots,
//! taking turns in proportion to its weight. A flow key indexes the table.
//! Removing one of N backends moves little more than that backend's own
//! 1/N of the keys, and every node builds the same table from the same pool.

use super::{lookup, Backend, Scheduler};
use crate::hash::hash64;

const EMPTY: usize = usize::MAX;
const MIN_TABLE: usize = 65_537;

#[derive(Debug, Default)]
pub struct Maglev {
    table: Vec<usize>,
}

fn is_prime(n: usize) -> bool {
    n >= 2
        && (2..)
            .take_while(|d| d * d <= n)
            .all(|d| !n.is_multiple_of(d))
}

/// The table size for `n` backends: a prime ≥ max(100 n, 65537).
pub fn table_size(n: usize) -> usize {
    (MIN_TABLE.max(100 * n)..)
        .find(|&m| is_prime(m))
        .expect("primes are unbounded")
}

impl Maglev {
    pub fn table_len(&self) -> usize {
        self.table.len()
    }
}

impl Scheduler for Maglev {
    fn update(&mut self, backends: &[Backend]) {
        let eligible: Vec<usize> = (0..backends.len())
            .filter(|&i| backends[i].eligible())
            .collect();
        self.table.clear();
        if eligible.is_empty() {
            return;
        }
        let m = table_size(eligible.len());
        let perm: Vec<(usize, usize)> = eligible
            .iter()
            .map(|&i| {
                let name = backends[i].name.as_bytes();
                let offset = (hash64(name, 0x6d61_676c) % m as u64) as usize;
                let skip = (hash64(name, 0x736b_6970) % (m as u64 - 1)) as usize + 1;
                (offset, skip)
            })
            .collect();
        let max_weight = eligible
            .iter()
            .map(|&i| u64::from(backends[i].weight))
            .max()
            .unwrap_or(1);
        let mut next = vec![0usize; eligible.len()];
        let mut filled = vec![0u64; eligible.len()];
        self.table = vec![EMPTY; m];
        let (mut placed, mut round) = (0usize, 0u64);
        while placed < m {
            round += 1;
            for (k, &i) in eligible.iter().enumerate() {
                // Turns in proportion to weight: the heaviest takes one per round.
                let due = round * u64::from(backends[i].weight) / max_weight;
                while filled[k] < due && placed < m {
                    let (offset, skip) = perm[k];
                    let slot = loop {
                        let c = (offset + next[k] * skip) % m;
                        next[k] += 1;
                        if self.table[c] == EMPTY {
                            break c;
                        }
                    };
                    self.table[slot] = i;
                    filled[k] += 1;
                    placed += 1;
                }
            }
        }
    }

    fn pick(&mut self, key: u64, _backends: &[Backend]) -> Option<usize> {
        lookup(&self.table, key)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_weighted, counts, pool};
    use super::*;
    use crate::hash::mix;

    #[test]
    fn table_is_a_prime_at_least_100_times_the_backends() {
        assert_eq!(table_size(3), 65_537);
        let m = table_size(1000);
        assert!(m >= 100_000 && is_prime(m));
    }

    #[test]
    fn equal_and_unequal_weights_are_honoured_within_one_percent() {
        let mut s = Maglev::default();
        let backends = pool(7, 1);
        assert_weighted(&counts(&mut s, &backends, 200_000), &backends, 0.01);
        let mut backends = pool(4, 1);
        for (i, b) in backends.iter_mut().enumerate() {
            b.weight = 1 + i as u32;
        }
        assert_weighted(&counts(&mut s, &backends, 200_000), &backends, 0.01);
    }

    #[test]
    fn removing_one_of_n_moves_at_most_its_share_plus_one_percent() {
        for n in [3usize, 5, 10, 20] {
            let mut backends = pool(n, 1);
            let mut s = Maglev::default();
            s.update(&backends);
            let keys = 100_000u64;
            let before: Vec<String> = (0..keys)
                .map(|k| backends[s.pick(mix(k), &backends).unwrap()].name.clone())
                .collect();
            backends[n / 2].healthy = false;
            s.update(&backends);
            let moved = (0..keys)
                .filter(|&k| {
                    backends[s.pick(mix(k), &backends).unwrap()].name != before[k as usize]
                })
                .count() as f64
                / keys as f64;
            let bound = 1.0 / n as f64 + 0.01;
            assert!(
                moved <= bound,
                "{n} backends: {moved:.4} moved, bound {bound:.4}"
            );
            // Nothing lands on the removed backend.
            assert!((0..1000).all(|k| s.pick(mix(k), &backends) != Some(n / 2)));
        }
    }

    #[test]
    fn every_node_builds_the_same_table() {
        let backends = pool(5, 2);
        let (mut a, mut b) = (Maglev::default(), Maglev::default());
        a.update(&backends);
        b.update(&backends);
        assert_eq!(a.table, b.table);
        a.update(&[]);
        assert_eq!(a.pick(1, &[]), None);
    }
}
