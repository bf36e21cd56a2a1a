//! Schedulers: which backend of a pool gets a new flow. Sans-IO and
//! deterministic; the data path asks only for flows it has no affinity
//! entry for. Backends that are down or draining get no new flows.

mod maglev;
mod source_hash;
mod wlc;
mod wrr;

pub use maglev::Maglev;
pub use source_hash::SourceHash;
pub use wlc::WeightedLeastConnections;
pub use wrr::SmoothWeightedRoundRobin;

/// A backend as schedulers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    /// Stable identity (e.g. `10.0.0.5:5060`): what consistent hashing
    /// places, so adding or removing another backend moves few flows.
    pub name: String,
    pub weight: u32,
    pub healthy: bool,
    pub draining: bool,
    /// Flows it carries now (for least-connections).
    pub active: u32,
}

impl Backend {
    pub fn new(name: &str, weight: u32) -> Backend {
        Backend {
            name: name.to_owned(),
            weight,
            healthy: true,
            draining: false,
            active: 0,
        }
    }

    /// Whether it may take new flows.
    pub fn eligible(&self) -> bool {
        self.healthy && !self.draining && self.weight > 0
    }
}

/// Picks backends for new flows.
pub trait Scheduler: Send {
    /// The pool changed (members, weights, health, draining).
    fn update(&mut self, backends: &[Backend]);
    /// The index into `backends` for a new flow whose key hashes to `key`
    /// (source address or Call-ID; ignored by key-less schedulers).
    fn pick(&mut self, key: u64, backends: &[Backend]) -> Option<usize>;
}

/// The backend index a key selects in a key-indexed table (source hash,
/// Maglev); None when the table is empty (no eligible backend).
fn lookup(table: &[usize], key: u64) -> Option<usize> {
    let len = u64::try_from(table.len()).ok().filter(|&l| l > 0)?;
    Some(table[(key % len) as usize])
}

/// A scheduler by its configuration name: `wrr`, `wlc`, `source-hash`, `maglev`.
pub fn by_name(name: &str) -> Option<Box<dyn Scheduler>> {
    match name {
        "wrr" => Some(Box::new(SmoothWeightedRoundRobin::default())),
        "wlc" => Some(Box::new(WeightedLeastConnections)),
        "source-hash" => Some(Box::new(SourceHash::default())),
        "maglev" => Some(Box::new(Maglev::default())),
        _ => None,
    }
}

#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// `n` backends named b0…, all weight `w`.
    pub fn pool(n: usize, w: u32) -> Vec<Backend> {
        (0..n)
            .map(|i| Backend::new(&format!("10.0.0.{i}:5060"), w))
            .collect()
    }

    /// How many of `keys` keys each backend gets.
    pub fn counts(s: &mut dyn Scheduler, backends: &[Backend], keys: u64) -> Vec<u64> {
        s.update(backends);
        let mut c = vec![0; backends.len()];
        for k in 0..keys {
            c[s.pick(crate::hash::mix(k), backends).expect("a backend")] += 1;
        }
        c
    }

    /// Asserts every share is within `tolerance` (fraction of all keys)
    /// of its weight's share.
    pub fn assert_weighted(counts: &[u64], backends: &[Backend], tolerance: f64) {
        let total: u64 = counts.iter().sum();
        let weights: u32 = backends
            .iter()
            .filter(|b| b.eligible())
            .map(|b| b.weight)
            .sum();
        for (c, b) in counts.iter().zip(backends) {
            let want = if b.eligible() {
                f64::from(b.weight) / f64::from(weights)
            } else {
                0.0
            };
            let got = *c as f64 / total as f64;
            assert!(
                (got - want).abs() <= tolerance,
                "{}: {got:.4} vs {want:.4}",
                b.name
            );
        }
    }
}
