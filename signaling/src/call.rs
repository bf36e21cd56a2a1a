//! One room call: its dialog identity (RFC 3261 12), what it is doing
//! (looking a meeting up, in the IVR, in a meeting), its media, and its
//! timers (2xx retransmission, IVR digits, RFC 4028 session timer).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use media_api::{BoundStream, LegId, LegMedia};
use meeting::SeatId;

use crate::h323::leg::H323Leg;
use crate::ivr::Ivr;
use crate::sdp::{Negotiated, SdpSession};
use crate::sip::{Flow, Message, Method, TxId};

/// What the call is doing.
#[derive(Debug)]
pub enum Phase {
    /// Waiting for admission into `number`.
    Lookup,
    /// In the IVR dialogue.
    Ivr(Ivr),
    /// In a meeting.
    Joined { meeting: String },
    /// We are calling the room into `meeting` (INVITE on `tx` once sent).
    Dialing {
        meeting: String,
        ringing: bool,
        tx: Option<TxId>,
    },
}

/// RFC 4028 session timer state.
#[derive(Debug, Clone, Copy)]
pub struct SessionTimer {
    pub interval: Duration,
    /// True when we send the refreshes.
    pub we_refresh: bool,
    /// When we refresh (we_refresh) or give up on the peer's refresh.
    pub due: Instant,
}

impl SessionTimer {
    pub fn new(interval: Duration, we_refresh: bool, now: Instant) -> SessionTimer {
        let due = if we_refresh {
            now + interval / 2
        } else {
            // RFC 4028 10: BYE at expiry minus min(32 s, interval/3).
            now + interval - (interval / 3).min(Duration::from_secs(32))
        };
        SessionTimer {
            interval,
            we_refresh,
            due,
        }
    }
}

/// Retransmission of our 2xx to INVITE until ACK (RFC 3261 13.3.1.4).
#[derive(Debug, Clone)]
pub struct OkRetransmit {
    pub bytes: Bytes,
    pub next: Instant,
    pub interval: Duration,
    pub give_up: Instant,
}

/// One call.
#[derive(Debug)]
pub struct Call {
    pub leg: LegId,
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: String,
    pub invite: Message,
    /// Server transaction of the initial INVITE while it has no final response.
    pub invite_tx: Option<TxId>,
    pub flow: Flow,
    pub remote_target: String,
    pub route_set: Vec<String>,
    pub local_cseq: u32,
    pub remote_cseq: u32,
    pub started: std::time::SystemTime,
    pub display_name: String,
    pub number: Option<String>,
    pub password: Option<String>,
    /// Its seat in the meeting, from admission until it leaves.
    pub seat: Option<SeatId>,
    pub phase: Phase,
    pub answered: bool,
    pub confirmed: bool,
    /// Negotiated from the INVITE's offer (None for late offer until the ACK).
    pub negotiated: Option<Negotiated>,
    pub media: Option<LegMedia>,
    pub local_rtp: Option<SocketAddr>,
    /// Where media bound the leg's audio (RTP and RTCP).
    pub local_media: Option<BoundStream>,
    pub sdp: SdpSession,
    pub ok_retransmit: Option<OkRetransmit>,
    pub session_timer: Option<SessionTimer>,
    /// Our in-flight in-dialog request (refresh or BYE).
    pub pending_request: Option<(TxId, Method)>,
    pub ending: bool,
    /// Deadline currently in the core's timer heap.
    pub scheduled: Option<Instant>,
    /// An H.323 call's own signalling (the SIP fields above then only
    /// describe it: `invite` names the caller, `flow` its connection).
    pub h323: Option<Box<H323Leg>>,
}

/// What sets a new call apart; everything else starts empty.
pub struct NewCall {
    pub leg: LegId,
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: String,
    /// The dialog's defining request, the room's side in From.
    pub invite: Message,
    pub flow: Flow,
    pub remote_target: String,
    pub route_set: Vec<String>,
    pub display_name: String,
    pub phase: Phase,
}

impl Call {
    pub fn new(n: NewCall) -> Call {
        Call {
            leg: n.leg,
            call_id: n.call_id,
            local_tag: n.local_tag,
            remote_tag: n.remote_tag,
            invite: n.invite,
            invite_tx: None,
            flow: n.flow,
            remote_target: n.remote_target,
            route_set: n.route_set,
            local_cseq: 0,
            remote_cseq: 0,
            started: std::time::SystemTime::now(),
            display_name: n.display_name,
            number: None,
            password: None,
            seat: None,
            phase: n.phase,
            answered: false,
            confirmed: false,
            negotiated: None,
            media: None,
            local_rtp: None,
            local_media: None,
            sdp: SdpSession {
                id: u64::from(rand::random::<u32>()),
                version: 1,
            },
            ok_retransmit: None,
            session_timer: None,
            pending_request: None,
            ending: false,
            scheduled: None,
            h323: None,
        }
    }

    /// Earliest timer of this call.
    pub fn next_deadline(&self) -> Option<Instant> {
        let ivr = match &self.phase {
            Phase::Ivr(ivr) => ivr.deadline(),
            _ => None,
        };
        [
            self.ok_retransmit.as_ref().map(|r| r.next.min(r.give_up)),
            ivr,
            self.session_timer.map(|s| s.due),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Meeting number the call is in, if joined.
    pub fn meeting(&self) -> Option<&str> {
        match &self.phase {
            Phase::Joined { meeting } => Some(meeting),
            _ => None,
        }
    }

    /// A new in-dialog request from our side (we are the UAS of the dialog).
    pub fn request(&mut self, method: Method, via: &str) -> Message {
        self.local_cseq += 1;
        let mut req = Message::request(method.clone(), self.remote_target.clone());
        req.push("Via", via);
        req.push("Max-Forwards", "70");
        for r in &self.route_set {
            req.push("Route", r.clone());
        }
        let to_line = self.invite.header("To").unwrap_or_default();
        req.push("From", format!("{to_line};tag={}", self.local_tag));
        req.push("To", self.invite.header("From").unwrap_or_default());
        req.push("Call-ID", self.call_id.clone());
        req.push("CSeq", format!("{} {method}", self.local_cseq));
        req
    }
}
