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
    /// The room's video stream, if it has one.
    pub video: Option<VideoStats>,
    /// The room's SRTP/SRTCP packets dropped: failed authentication (or
    /// too short to hold a tag), and replays.
    pub srtp_auth_failures: u64,
    pub srtp_replays: u64,
}

/// A room's video stream, as the admin API shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VideoStats {
    /// The codec and payload type agreed (`H264/90000 pt 126 mode 1`).
    pub codec: String,
    /// How the room's camera reaches its meeting: `forwarded` (as the room
    /// sends it), `transcoded to H264 <w>x<h>` (browsers do not decode
    /// what it sends: H.263, or H.264 of a profile they lack), or `none`
    /// (not in a meeting, or not sending).
    pub to_meeting: String,
    pub packets_received: u64,
    pub bytes_received: u64,
    pub packets_lost: i64,
    /// Keyframes the room sent.
    pub keyframes_received: u64,
    /// Packets of the room's camera forwarded into the meeting.
    pub packets_forwarded: u64,
    /// Frames of the room's camera transcoded for the meeting.
    pub frames_transcoded: u64,
    /// Keyframes the meeting (or we) wanted of the room.
    pub keyframes_wanted: u64,
    /// Keyframe requests sent to the room, by kind, and those held back
    /// (one went less than 500 ms before).
    pub plis_sent: u64,
    pub firs_sent: u64,
    /// By signaling: SIP INFO picture_fast_update, H.245
    /// videoFastUpdatePicture.
    pub fast_updates_sent: u64,
    pub requests_throttled: u64,
    /// Keyframe requests the room sent us (PLI, FIR — RFC 5104 or RFC
    /// 2032's — or by signaling).
    pub keyframe_requests_received: u64,
    /// Of those: PLIs and FIRs.
    pub plis_received: u64,
    pub firs_received: u64,
    /// Generic NACKs (RFC 4585) sent to the room for its lost packets,
    /// and received from it; packets sent it again for them.
    pub nacks_sent: u64,
    pub nacks_received: u64,
    pub packets_retransmitted: u64,
    /// The room's cap on what it is sent (TMMBR, REMB), kbit/s, and the
    /// requests it sent.
    pub rate_cap_kbps: Option<u64>,
    pub tmmbrs_received: u64,
    pub rembs_received: u64,
    /// What the gateway made of the room's camera while someone watched
    /// it (decoded once for the node): frames decoded, frames dropped
    /// while waiting for a keyframe, packets that never came, frames the
    /// decoder refused.
    pub camera_frames_decoded: u64,
    pub camera_frames_dropped: u64,
    pub camera_packets_lost: u64,
    pub camera_decode_errors: u64,
    /// Packets on a payload type not agreed, or not RTP.
    pub rejected_packets: u64,
    /// What the room is sent of its meeting (`H264 1280x720@30 1800
    /// kbit/s`; empty while nothing is sent), and by how many rooms that
    /// encoder is shared.
    pub from_meeting: String,
    pub encoder_shared_by: u64,
    /// The layout of the picture the room is sent (automatic resolved).
    pub layout: Option<crate::layout::Layout>,
    pub frames_sent: u64,
    pub keyframes_sent: u64,
    pub packets_sent: u64,
    pub bytes_sent: u64,
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
