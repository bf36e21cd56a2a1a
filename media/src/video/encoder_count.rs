//! Encoders running on the node's video workers, in all and by meeting:
//! shared counters that `/metrics` reads without asking a worker.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
pub(crate) struct EncoderCount {
    total: Arc<AtomicU64>,
    by_meeting: Arc<Mutex<HashMap<Arc<str>, u64>>>,
}

impl EncoderCount {
    /// An encoder started for `meeting`.
    pub fn started(&self, meeting: &Arc<str>) {
        self.total.fetch_add(1, Ordering::Relaxed);
        let mut by_meeting = self.by_meeting.lock().expect("encoder count lock");
        *by_meeting.entry(meeting.clone()).or_default() += 1;
    }

    /// An encoder of `meeting` stopped.
    pub fn stopped(&self, meeting: &str) {
        self.total.fetch_sub(1, Ordering::Relaxed);
        let mut by_meeting = self.by_meeting.lock().expect("encoder count lock");
        if let Some(n) = by_meeting.get_mut(meeting) {
            *n -= 1;
            if *n == 0 {
                by_meeting.remove(meeting);
            }
        }
    }

    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Meetings with encoders, and how many, by meeting.
    pub fn by_meeting(&self) -> Vec<(String, u64)> {
        let by_meeting = self.by_meeting.lock().expect("encoder count lock");
        let mut counts: Vec<_> = by_meeting
            .iter()
            .map(|(m, n)| (m.to_string(), *n))
            .collect();
        counts.sort();
        counts
    }
}
