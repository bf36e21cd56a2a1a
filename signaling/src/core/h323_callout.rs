//! Calling an H.323 room out into a meeting (the operator's invite to a
//! room registered with our gatekeeper; as the gatekeeper we need no ARQ).
//! A media leg and the call-signalling connection first, then our Setup
//! with fast-start proposals and H.245 tunnelling offered; the room's
//! CallProceeding/Alerting show as dialing/ringing, its fast-start answer
//! configures the leg, and its Connect joins it to the meeting. From then
//! on it is an H.323 call like any other.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use media_api::{LegId, MeetingJoin};
use meeting::Seat;
use tracing::info;

use super::h323::{h323_media, H323Output};
use super::*;
use crate::h323::fast_start;
use crate::h323::h225_call::{CalleeProgress, H225Call, IncomingSetup};
use crate::h323::h245::H245Session;
use crate::h323::leg::{H245Link, H323Leg};

/// An H.323 room to call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct H323DialTarget {
    /// Its call-signalling address (from its registration).
    pub call_signal: SocketAddr,
    /// Our address towards it (media and H.245 bind there).
    pub local: IpAddr,
    /// The alias to put in the Setup.
    pub alias: String,
    /// The room's name in the meeting.
    pub display_name: String,
}

impl Core {
    /// Starts calling an H.323 room into the meeting of `seat` (taken for
    /// it); the call's id, or why not.
    pub fn dial_h323(&mut self, target: H323DialTarget, seat: Seat) -> Result<LegId, String> {
        self.may_dial()?;
        let meeting = &seat.meeting;
        self.next_leg += 1;
        let leg = LegId(self.next_leg);
        info!(room = %target.alias, at = %target.call_signal, meeting = %meeting.number, "calling an H.323 room out");
        let ours = IncomingSetup {
            dial: Some(target.alias.clone()),
            caller: meeting.name.clone(),
            fast_start: Vec::new(),
            h245_tunnelling: true,
            h245_address: None,
        };
        let mut call = Call::new(NewCall {
            leg,
            display_name: target.display_name.clone(),
            caller: format!("h323:{}@{}", target.alias, target.call_signal),
            remote: target.call_signal,
            local_ip: target.local,
            phase: Phase::Dialing {
                meeting: meeting.number.clone(),
                ringing: false,
                tx: None,
            },
            edge: Edge::H323(Box::new(H323Leg::new(0, H225Call::new(), ours))),
        });
        call.number = Some(meeting.number.clone());
        call.password = meeting.password.clone();
        call.seat = Some(seat.id);
        call.answered = true;
        self.calls.insert(leg, call);
        self.out.push_back(Output::CreateLeg {
            leg,
            ip: target.local,
        });
        self.out
            .push_back(Output::H323(H323Output::ConnectCallSignalling {
                leg,
                to: target.call_signal,
            }));
        Ok(leg)
    }

    /// The call-signalling connection to the room is up.
    pub(super) fn h323_dial_connected(&mut self, leg: LegId, conn: u64) {
        let Some(call) = self.calls.get_mut(&leg) else {
            self.out
                .push_back(Output::H323(H323Output::CloseCallSignalling { conn }));
            return;
        };
        if let Some(h) = call.h323_mut() {
            h.conn = conn;
        }
        self.h323_conns.insert(conn, leg);
        self.h323_send_setup(leg);
    }

    /// Our Setup, once both the connection and the media leg are there.
    pub(super) fn h323_send_setup(&mut self, leg: LegId) {
        let codecs = self.cfg.codecs.clone();
        let random = rand::random();
        let Some(call) = self.calls.get_mut(&leg) else {
            return;
        };
        let (Some(local), Some(h)) = (call.local_media, call.h323_mut()) else {
            return;
        };
        let (rtp, rtcp) = (local.rtp, local.rtcp);
        if h.conn == 0 || h.h245.is_some() {
            return;
        }
        h.h245 = Some(H245Session::new(codecs.clone(), rtp, rtcp, random));
        let proposals = fast_start::propose(&codecs, rtp, rtcp);
        let alias = h.setup.dial.clone().unwrap_or_default();
        let setup = h.signalling.setup(&alias, &h.setup.caller, proposals);
        let conn = h.conn;
        self.out.push_back(Output::H323(H323Output::CallSignalling {
            conn,
            data: setup.into(),
        }));
    }

    /// The called room's CallProceeding, Alerting, Progress or Connect.
    pub(super) fn h323_progress(&mut self, leg: LegId, p: CalleeProgress, now: Instant) {
        let codecs = self.cfg.codecs.clone();
        let Some(call) = self.calls.get_mut(&leg) else {
            return;
        };
        if let Phase::Dialing { ringing, .. } = &mut call.phase {
            *ringing |= p.ringing;
        }
        let Some(h) = call.h323_mut() else {
            return;
        };
        if let (H245Link::Tunnel, false, Some(to)) = (h.link, p.h245_tunnelling, p.h245_address) {
            h.link = H245Link::Dialing;
            self.out
                .push_back(Output::H323(H323Output::ConnectH245 { leg, to }));
        }
        let h = call.h323_mut().expect("checked");
        if let Some(agreed) = fast_start::accepted(&p.fast_start, &codecs) {
            if let Some(session) = h.h245.as_mut() {
                session.fast_started(agreed.codec);
            }
            let media = h323_media(agreed.codec, Some(agreed.room_rtp));
            call.media = Some(media.clone());
            self.out.push_back(Output::ConfigureLeg { leg, media });
        }
        if p.connected {
            self.h323_answered(leg, now);
        }
    }

    /// The room answered: it joins the meeting, H.245 starts.
    fn h323_answered(&mut self, leg: LegId, now: Instant) {
        let call = self.calls.get_mut(&leg).expect("live call");
        let Phase::Dialing { meeting, .. } = std::mem::replace(&mut call.phase, Phase::Lookup)
        else {
            return;
        };
        call.phase = Phase::Joined {
            meeting: meeting.clone(),
        };
        if let Some(h) = call.h323_mut() {
            h.connected = true;
        }
        info!(leg = leg.0, %meeting, "the H.323 room answered; joining");
        let join = MeetingJoin {
            meeting: meeting.clone(),
            password: call.password.clone(),
            display_name: call.display_name.clone(),
        };
        self.stats.calls_admitted += 1;
        self.out.push_back(Output::JoinMeeting { leg, join });
        self.h323_start_h245(leg, now);
    }
}
