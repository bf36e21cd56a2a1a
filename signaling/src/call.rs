//! One room call as the controller sees it, whatever its protocol: who
//! the room is, what it is doing (being admitted, in the IVR, in a
//! meeting, being called), its seat and media. The signaling that carries
//! it (a SIP dialog, an H.323 call) keeps its own state at the edge.

use std::net::{IpAddr, SocketAddr};
use std::time::{Instant, SystemTime};

use media_api::layout::{Layout, MeetingLayout};
use media_api::{BoundStream, LegId, LegMedia, MeetingJoin};

use crate::sdp::Addresses;
use meeting::SeatId;

use crate::ivr::Ivr;

/// What the call is doing.
#[derive(Debug)]
pub enum Phase {
    /// Waiting for admission into `number`.
    Lookup,
    /// In the IVR dialogue.
    Ivr(Ivr),
    /// In a meeting.
    Joined { meeting: String },
    /// We are calling the room into `meeting`.
    Dialing { meeting: String, ringing: bool },
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
    /// Whether its media leg has a video stream.
    pub video: bool,
    /// Where media bound the leg's streams, as the room sees them.
    pub local_media: Option<LocalMedia>,
    /// Being released: the room is told, the call is not over yet.
    pub ending: bool,
    /// Deadline (of the IVR) currently in the controller's timer heap.
    pub scheduled: Option<Instant>,
    /// The room's own layout (its dial string's).
    pub layout: Option<Layout>,
    /// Its meeting's layout settings, once admitted (or dialing).
    pub meeting_layout: Option<MeetingLayout>,
    /// In the meeting, the last key it pressed was `*`.
    pub star: bool,
    /// Its protocol carries no encrypted media (H.323 here).
    pub clear_only: bool,
    /// Its meeting admits only encrypted rooms: media agreed in clear
    /// ends it.
    pub must_encrypt: bool,
}

/// What the edge knows of a new call; everything else starts empty.
#[derive(Debug)]
pub struct NewCall {
    pub leg: LegId,
    pub display_name: String,
    pub caller: String,
    pub remote: SocketAddr,
    pub local_ip: IpAddr,
    /// The meeting number and password it dialed, if it dialed one.
    pub number: Option<String>,
    pub password: Option<String>,
    /// Media agreed with the room already (an INVITE's offer).
    pub media: Option<LegMedia>,
    /// Whether its media leg gets a video stream.
    pub video: bool,
    /// The layout its dial string asked for.
    pub layout: Option<Layout>,
    /// Its protocol carries no encrypted media (H.323 here).
    pub clear_only: bool,
}

/// Where media bound a leg's streams (RTP and RTCP each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalMedia {
    pub audio: BoundStream,
    pub video: Option<BoundStream>,
}

impl LocalMedia {
    /// The RTP addresses, for SDP.
    pub fn addresses(&self) -> Addresses {
        Addresses {
            audio: self.audio.rtp,
            video: self.video.map(|v| v.rtp),
            dtls_fingerprint: self.audio.dtls_fingerprint,
        }
    }
}

impl Call {
    pub fn new(n: NewCall, phase: Phase) -> Call {
        Call {
            leg: n.leg,
            started: SystemTime::now(),
            display_name: n.display_name,
            caller: n.caller,
            remote: n.remote,
            local_ip: n.local_ip,
            number: n.number,
            password: n.password,
            seat: None,
            phase,
            answered: false,
            media: n.media,
            video: n.video,
            local_media: None,
            ending: false,
            scheduled: None,
            layout: n.layout,
            meeting_layout: None,
            star: false,
            clear_only: n.clear_only,
            must_encrypt: false,
        }
    }

    /// Whether its media is encrypted, as far as is known: every stream
    /// agreed has keys (media not agreed yet, a late offer's, counts as
    /// encrypted until it is; a clear-only protocol never is).
    pub fn encrypted(&self) -> bool {
        !self.clear_only
            && self
                .media
                .as_ref()
                .is_none_or(|m| m.streams.iter().all(|s| s.crypto.is_some()))
    }

    /// How it joins `meeting`.
    pub fn join(&self, meeting: String) -> MeetingJoin {
        MeetingJoin {
            meeting,
            password: self.password.clone(),
            display_name: self.display_name.clone(),
            layout: self.layout,
            meeting_layout: self.meeting_layout,
        }
    }

    /// The IVR's next deadline, if the call is in it.
    pub fn next_deadline(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Ivr(ivr) => ivr.deadline(),
            _ => None,
        }
    }

    /// Meeting number the call is in, if joined.
    pub fn meeting(&self) -> Option<&str> {
        match &self.phase {
            Phase::Joined { meeting } => Some(meeting),
            _ => None,
        }
    }

    /// Where it stands, as the admin API says it.
    pub fn state(&self) -> &'static str {
        match (&self.phase, self.answered) {
            _ if self.ending => "ending",
            (Phase::Joined { .. }, _) => "in-meeting",
            (Phase::Dialing { ringing: false, .. }, _) => "dialing",
            (Phase::Dialing { ringing: true, .. }, _) => "ringing",
            (Phase::Ivr(_), _) | (Phase::Lookup, true) => "ivr",
            (Phase::Lookup, false) => "admitting",
        }
    }
}
