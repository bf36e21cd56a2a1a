//! Source hashing (IPVS `sh`): the flow key (the client address) indexes a
//! weighted table of eligible backends, so one client always lands on the
//! same backend while the pool does not change.

use super::{lookup, Backend, Scheduler};

#[derive(Debug, Default)]
pub struct SourceHash {
    /// Backend indices, each repeated by its weight.
    table: Vec<usize>,
}

impl Scheduler for SourceHash {
    fn update(&mut self, backends: &[Backend]) {
        self.table.clear();
        for (i, b) in backends.iter().enumerate().filter(|(_, b)| b.eligible()) {
            self.table.extend(std::iter::repeat_n(i, b.weight as usize));
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

    #[test]
    fn same_key_same_backend_and_weighted() {
        let mut backends = pool(4, 1);
        backends[3].weight = 2;
        let mut s = SourceHash::default();
        s.update(&backends);
        let first = s.pick(12345, &backends);
        assert!((0..100).all(|_| s.pick(12345, &backends) == first));
        assert_weighted(&counts(&mut s, &backends, 100_000), &backends, 0.01);
    }
}
