//! Each leg's statistics as its worker last published them (every
//! [`PUBLISH_EVERY`] ticks), so that the admin API and /metrics read them
//! without a round trip through a busy media worker.

use std::collections::HashMap;
use std::sync::Mutex;

use media_api::{LegId, LegStats};

use super::leg::Leg;

/// Ticks (20 ms) between two publications: five a second.
pub(crate) const PUBLISH_EVERY: u32 = 10;

#[derive(Default)]
pub(crate) struct StatsBoard {
    legs: Mutex<HashMap<LegId, LegStats>>,
}

impl StatsBoard {
    fn legs(&self) -> std::sync::MutexGuard<'_, HashMap<LegId, LegStats>> {
        self.legs.lock().expect("stats board")
    }

    /// A worker's legs, as they are now (one lock for all of them).
    pub fn publish<'a>(&self, legs: impl Iterator<Item = (&'a LegId, &'a Leg)>) {
        let mut board = self.legs();
        for (&id, leg) in legs {
            board.insert(id, leg.stats());
        }
    }

    /// The leg is gone.
    pub fn forget(&self, id: LegId) {
        self.legs().remove(&id);
    }

    /// The leg's statistics as last published.
    pub fn get(&self, id: LegId) -> Option<LegStats> {
        self.legs().get(&id).cloned()
    }
}
