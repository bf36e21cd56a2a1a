//! One room call as the controller sees it, whatever its protocol: who
//! the room is, what it is doing (being admitted, in the IVR, in a
//! meeting, being called), its seat and media, and the signaling [`Edge`]
//! that carries it — a SIP dialog or an H.323 call, each keeping its own
//! protocol state.

use std::net::{IpAddr, SocketAddr};
use std::time::{Instant, SystemTime};

use media_api::{BoundStream, LegId, LegMedia};
use meeting::SeatId;

use crate::h323::leg::H323Leg;
use crate::ivr::Ivr;
use crate::sip::dialog::SipDialog;
use crate::sip::TxId;

/// What the call is doing.
#[derive(Debug)]
pub enum Phase {
    /// Waiting for admission into `number`.
    Lookup,
    /// In the IVR dialogue.
    Ivr(Ivr),
    /// In a meeting.
    Joined { meeting: String },
    /// We are calling the room into `meeting` (over SIP: the INVITE on
    /// `tx` once sent).
    Dialing {
        meeting: String,
        ringing: bool,
        tx: Option<TxId>,
    },
}

/// The signaling that carries a call.
#[derive(Debug)]
pub enum Edge {
    Sip(Box<SipDialog>),
    H323(Box<H323Leg>),
}

impl Edge {
    /// The transport as the admin API names it.
    pub fn transport(&self) -> &'static str {
        match self {
            Edge::Sip(d) => d.flow.transport.via_token(),
            Edge::H323(_) => "h323",
        }
    }
}

/// One call.
#[derive(Debug)]
pub struct Call {
    pub leg: LegId,
    pub started: SystemTime,
    /// The room's name in the meeting.
    pub display_name: String,
    /// The room's address as its signaling names it (`sip:…`, `h323:…`).
    pub caller: String,
    /// The room's signaling address.
    pub remote: SocketAddr,
    /// Our address the room reached (or that we reach it from): media
    /// binds there.
    pub local_ip: IpAddr,
    pub number: Option<String>,
    pub password: Option<String>,
    /// Its seat in the meeting, from admission until it leaves.
    pub seat: Option<SeatId>,
    pub phase: Phase,
    /// Answered (or, for a call-out, being placed): it has a media leg.
    pub answered: bool,
    /// What the room and we agreed on, as media is told.
    pub media: Option<LegMedia>,
    /// Where media bound the leg's audio (RTP and RTCP), as the room sees it.
    pub local_media: Option<BoundStream>,
    pub ending: bool,
    /// Deadline currently in the core's timer heap.
    pub scheduled: Option<Instant>,
    pub edge: Edge,
}

/// What sets a new call apart; everything else starts empty.
pub struct NewCall {
    pub leg: LegId,
    pub display_name: String,
    pub caller: String,
    pub remote: SocketAddr,
    pub local_ip: IpAddr,
    pub phase: Phase,
    pub edge: Edge,
}

impl Call {
    pub fn new(n: NewCall) -> Call {
        Call {
            leg: n.leg,
            started: SystemTime::now(),
            display_name: n.display_name,
            caller: n.caller,
            remote: n.remote,
            local_ip: n.local_ip,
            number: None,
            password: None,
            seat: None,
            phase: n.phase,
            answered: false,
            media: None,
            local_media: None,
            ending: false,
            scheduled: None,
            edge: n.edge,
        }
    }

    /// Earliest timer of this call.
    pub fn next_deadline(&self) -> Option<Instant> {
        let ivr = match &self.phase {
            Phase::Ivr(ivr) => ivr.deadline(),
            _ => None,
        };
        let dialog = match &self.edge {
            Edge::Sip(d) => d.next_deadline(),
            Edge::H323(_) => None,
        };
        [ivr, dialog].into_iter().flatten().min()
    }

    /// Meeting number the call is in, if joined.
    pub fn meeting(&self) -> Option<&str> {
        match &self.phase {
            Phase::Joined { meeting } => Some(meeting),
            _ => None,
        }
    }

    /// Its SIP dialog, if it is a SIP call.
    pub fn sip(&self) -> Option<&SipDialog> {
        match &self.edge {
            Edge::Sip(d) => Some(d),
            Edge::H323(_) => None,
        }
    }

    pub fn sip_mut(&mut self) -> Option<&mut SipDialog> {
        match &mut self.edge {
            Edge::Sip(d) => Some(d),
            Edge::H323(_) => None,
        }
    }

    /// Its H.323 call, if it is one.
    pub fn h323_mut(&mut self) -> Option<&mut H323Leg> {
        match &mut self.edge {
            Edge::H323(h) => Some(h),
            Edge::Sip(_) => None,
        }
    }
}
