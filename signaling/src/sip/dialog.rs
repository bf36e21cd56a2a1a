//! What a call keeps of its SIP dialog (RFC 3261 12): identity, route,
//! sequence numbers, the INVITE that made it, its offer/answer state, and
//! its timers (2xx retransmission, RFC 4028 session timer, our in-flight
//! request).

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Flow, Message, Method, TxId};
use crate::sdp::{Addresses, Codecs, Keying, Negotiated, SdpSession};

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

/// One call's SIP dialog.
#[derive(Debug)]
pub struct SipDialog {
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: String,
    /// The dialog's defining request, the room's side in From (for a
    /// call-out, our INVITE as the room would have sent it).
    pub invite: Message,
    /// Server transaction of the initial INVITE while it has no final response.
    pub invite_tx: Option<TxId>,
    pub flow: Flow,
    pub remote_target: String,
    pub route_set: Vec<String>,
    /// What the call may offer and answer (within its call rate).
    pub codecs: Codecs,
    /// Its SRTP keys (SDES) and whether they may be given.
    pub keying: Keying,
    pub local_cseq: u32,
    pub remote_cseq: u32,
    pub confirmed: bool,
    /// Negotiated from the INVITE's offer (None for late offer until the ACK).
    pub negotiated: Option<Negotiated>,
    pub sdp: SdpSession,
    pub ok_retransmit: Option<OkRetransmit>,
    pub session_timer: Option<SessionTimer>,
    /// Our in-flight in-dialog request (refresh or BYE).
    pub pending_request: Option<(TxId, Method)>,
    /// A call-out: our INVITE's client transaction, once sent.
    pub dial_tx: Option<TxId>,
    /// Where our media is, as the room sees it, once bound (for offers
    /// and answers inside the dialog).
    pub local: Option<Addresses>,
    /// Deadline currently in the edge's timer heap.
    pub scheduled: Option<Instant>,
}

/// What sets a new dialog apart; everything else starts empty.
pub struct NewDialog {
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: String,
    pub invite: Message,
    pub flow: Flow,
    pub remote_target: String,
    pub route_set: Vec<String>,
    pub codecs: Codecs,
    pub keying: Keying,
}

impl SipDialog {
    /// Whether the dialog was made with a `sips:` Request-URI: everything
    /// in it must then go over TLS, Contact included.
    pub fn is_sips(&self) -> bool {
        self.invite.request_uri().is_some_and(|uri| {
            uri.get(..5)
                .is_some_and(|s| s.eq_ignore_ascii_case("sips:"))
        })
    }

    pub fn new(n: NewDialog) -> SipDialog {
        SipDialog {
            call_id: n.call_id,
            local_tag: n.local_tag,
            remote_tag: n.remote_tag,
            invite: n.invite,
            invite_tx: None,
            flow: n.flow,
            remote_target: n.remote_target,
            route_set: n.route_set,
            codecs: n.codecs,
            keying: n.keying,
            local_cseq: 0,
            remote_cseq: 0,
            confirmed: false,
            negotiated: None,
            sdp: SdpSession {
                id: u64::from(rand::random::<u32>()),
                version: 1,
            },
            ok_retransmit: None,
            session_timer: None,
            pending_request: None,
            dial_tx: None,
            local: None,
            scheduled: None,
        }
    }

    /// Earliest timer of the dialog.
    pub fn next_deadline(&self) -> Option<Instant> {
        [
            self.ok_retransmit.as_ref().map(|r| r.next.min(r.give_up)),
            self.session_timer.map(|s| s.due),
        ]
        .into_iter()
        .flatten()
        .min()
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
