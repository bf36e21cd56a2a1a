//! Statistics media keeps for each leg.

use serde::{Deserialize, Serialize};

/// A leg's media figures, as the admin API shows them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LegStats {
    pub codec: Option<String>,
    /// Where we send RTP (the room's real source once it has sent).
    pub remote: Option<String>,
    pub packets_received: u64,
    pub packets_lost: i64,
    pub loss_percent: f64,
    pub jitter_ms: f64,
    pub rtt_ms: Option<f64>,
    pub packets_sent: u32,
    /// RFC 6464 level of the room's last frame (0 loud .. 127 silent).
    pub level: u8,
    pub muted: bool,
    pub jitter_buffer: JitterStats,
    /// Fraction of our packets the room reports lost (x/256).
    pub their_fraction_lost: Option<u8>,
    /// Audio streams of the meeting the room hears (one per other participant).
    pub meeting_streams: usize,
}

/// Counters of what the buffer did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JitterStats {
    pub duplicates: u64,
    pub late: u64,
    pub concealed: u64,
    /// Packet-times concealed to deepen the buffer (a late or nearly late
    /// packet).
    pub stretched: u64,
    pub underruns: u64,
    pub drift_drops: u64,
    pub overflows: u64,
    /// Packets the buffer fills to before playing.
    pub target: usize,
}
