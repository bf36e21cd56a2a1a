//! What the SFU is carrying right now, as gauges the admin API reads
//! without asking any session task: open sessions by kind and their peer
//! connections.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Live counts; shared by every session of the SFU.
#[derive(Debug, Default)]
pub struct SfuStats {
    browser_sessions: AtomicU64,
    gateway_sessions: AtomicU64,
}

/// A snapshot of [`SfuStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct SfuCounts {
    /// Sessions carrying one participant (browsers, and rooms that join
    /// on their own).
    pub browser_sessions: u64,
    /// Sessions carrying a media node's rooms of one meeting.
    pub gateway_sessions: u64,
    /// Peer connections the service holds (two per session).
    pub peer_connections: u64,
}

impl SfuStats {
    /// Counts one open session until the returned guard drops.
    pub(crate) fn open(self: &Arc<Self>, gateway: bool) -> Open {
        self.counter(gateway).fetch_add(1, Ordering::Relaxed);
        Open {
            stats: self.clone(),
            gateway,
        }
    }

    fn counter(&self, gateway: bool) -> &AtomicU64 {
        if gateway {
            &self.gateway_sessions
        } else {
            &self.browser_sessions
        }
    }

    pub fn counts(&self) -> SfuCounts {
        let browser_sessions = self.browser_sessions.load(Ordering::Relaxed);
        let gateway_sessions = self.gateway_sessions.load(Ordering::Relaxed);
        SfuCounts {
            browser_sessions,
            gateway_sessions,
            peer_connections: 2 * (browser_sessions + gateway_sessions),
        }
    }
}

/// An open session, counted while it lives.
pub(crate) struct Open {
    stats: Arc<SfuStats>,
    gateway: bool,
}

impl Drop for Open {
    fn drop(&mut self) {
        self.stats
            .counter(self.gateway)
            .fetch_sub(1, Ordering::Relaxed);
    }
}
