//! The signaling core: the sans-IO [`Controller`] of every room call and
//! the protocol edges that carry them ([`Edges`]: the SIP endpoint and
//! dialogs, H.323 calls, REGISTER and keepalives). Fed wire bytes, seats,
//! media answers and events and `now`; it returns [`Output`]s (bytes to
//! send, seats to take and give back, media commands). The edges report
//! what rooms do as [`RoomEvent`](crate::controller::RoomEvent)s, which
//! the controller decides on, acting on the rooms through
//! [`RoomSignaling`](crate::controller::RoomSignaling).

use std::time::Instant;

use media_api::{LegId, LegMedia, MediaEvent, StreamKind};
use meeting::Seat;
use tracing::debug;

mod call_rate;
mod callout;
mod edges;
mod h323;
mod h323_callout;
mod in_dialog;
mod io;
mod registration;
mod room_policy;
mod sip_incoming;
mod sip_session;

pub use crate::h323::io::{H323Input, H323Output};
pub use callout::DialTarget;
pub use h323_callout::H323DialTarget;
pub use io::{CoreConfig, Input, Output};
pub use room_policy::{RoomPolicies, RoomPolicy};

pub use crate::controller::CallStats;
use crate::controller::Controller;
use crate::release::Release;
use edges::Edges;

/// A call as the admin API shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CallInfo {
    pub id: u64,
    pub call_id: String,
    pub from: String,
    pub display_name: String,
    pub transport: &'static str,
    pub remote: String,
    pub state: &'static str,
    pub meeting: Option<String>,
    pub codec: Option<String>,
    pub direction: Option<&'static str>,
    pub started_unix: u64,
    /// Each negotiated stream's protection: `none`, or the SRTP keying
    /// and suite (`sdes:AES_CM_128_HMAC_SHA1_80`).
    pub encryption: std::collections::BTreeMap<StreamKind, String>,
}

/// The signaling state machine.
pub struct Core {
    controller: Controller,
    edges: Edges,
}

impl Core {
    pub fn new(cfg: CoreConfig) -> Core {
        Core {
            controller: Controller::new(cfg.controller()),
            edges: Edges::new(cfg),
        }
    }

    pub fn endpoint_stats(&self) -> crate::sip::EndpointStats {
        self.edges.ep.stats
    }

    /// Call counters: the controller's, and the calls the edges refused
    /// before there was a call (bad SDP, shutting down).
    pub fn stats(&self) -> CallStats {
        let c = self.controller.stats;
        CallStats {
            calls_total: c.calls_total + self.edges.turned_away,
            calls_refused: c.calls_refused + self.edges.refused,
            ..c
        }
    }

    /// Seats this core's calls hold.
    pub fn seats_held(&self) -> usize {
        self.controller.seats_held()
    }

    /// True once shut down with nothing left to finish: no call, no
    /// REGISTER awaiting the registrar, no request of ours but keepalives
    /// waiting for an answer (completed server transactions, which only
    /// absorb retransmissions, do not count).
    pub fn is_idle(&self) -> bool {
        self.controller.calls().next().is_none() && self.edges.is_idle()
    }

    pub fn calls(&self) -> Vec<CallInfo> {
        let mut v: Vec<CallInfo> = self
            .controller
            .calls()
            .map(|c| {
                let audio = c.media.as_ref().and_then(LegMedia::audio);
                CallInfo {
                    id: c.leg.0,
                    call_id: self.edges.call_id(c.leg),
                    from: c.caller.clone(),
                    display_name: c.display_name.clone(),
                    transport: self.edges.transport(c.leg),
                    remote: c.remote.to_string(),
                    state: c.state(),
                    meeting: c.meeting().map(str::to_owned),
                    codec: audio.map(|(_, a)| a.codec.rtpmap().to_owned()),
                    direction: audio.map(|(s, _)| s.direction.attribute()),
                    started_unix: c
                        .started
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_secs())
                        .unwrap_or(0),
                    encryption: c
                        .media
                        .iter()
                        .flat_map(|m| &m.streams)
                        .map(|s| {
                            let how = s.crypto.as_ref().map_or("none".into(), |c| c.describe());
                            (s.kind, how)
                        })
                        .collect(),
                }
            })
            .collect();
        v.sort_by_key(|c| c.id);
        v
    }

    /// Starts calling a SIP room into the meeting of `seat` (taken for
    /// it); the call's id, or why not.
    pub fn dial(&mut self, target: DialTarget, seat: Seat) -> Result<LegId, String> {
        let new = self.edges.dial_sip(target, &seat.meeting)?;
        let leg = new.leg;
        self.controller.dial(new, seat);
        Ok(leg)
    }

    /// Starts calling an H.323 room into the meeting of `seat`.
    pub fn dial_h323(&mut self, target: H323DialTarget, seat: Seat) -> Result<LegId, String> {
        let new = self.edges.dial_h323(target, &seat.meeting)?;
        let leg = new.leg;
        self.controller.dial(new, seat);
        Ok(leg)
    }

    /// The edges' outputs, then the controller's.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.edges
            .out
            .pop_front()
            .or_else(|| self.controller.poll_action().map(Output::Control))
    }

    /// Earliest timer of the core.
    pub fn next_deadline(&mut self) -> Option<Instant> {
        let edges = self.edges.next_deadline();
        match (self.controller.next_deadline(), edges) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn handle(&mut self, input: Input, now: Instant) {
        let (c, room) = (&mut self.controller, &mut self.edges);
        match input {
            Input::Sip { data, flow } => room.ep.receive(&data, flow, now),
            Input::Seat { leg, result } => c.on_seat(leg, result, room, now),
            Input::LegCreated { leg, result } => c.on_leg_created(leg, result, room, now),
            Input::Media(MediaEvent::Dtmf { leg, digit }) => c.on_digit(leg, digit, room, now),
            Input::Media(MediaEvent::ActiveSpeaker { leg, participant }) => {
                debug!(leg = leg.0, %participant, "the room's active speaker");
            }
            Input::Media(MediaEvent::KeyframeWanted { leg }) => room.ask_keyframe(leg, now),
            Input::Media(MediaEvent::MeetingLost { leg, reason }) => {
                c.end(leg, Release::MeetingLost, &reason, room, now)
            }
            Input::Registered { tx, reply } => room.on_registered(tx, reply, now),
            Input::Probe { id, flow, target } => room.probe(id, flow, &target, now),
            Input::H323(input) => room.on_h323(input),
            Input::RoomPolicies(policies) => room.room_policies = policies,
            Input::CallGrant(grant) => room.on_call_grant(grant),
            Input::Shutdown => {
                room.shutting_down = true;
                c.shutdown(room, now);
            }
        }
        self.pump(now);
    }

    pub fn on_timer(&mut self, now: Instant) {
        self.edges.on_timer(now);
        self.controller.on_timer(&mut self.edges, now);
        self.pump(now);
    }

    /// Runs the edges until quiet, handing each room event to the
    /// controller.
    fn pump(&mut self, now: Instant) {
        loop {
            self.edges.pump(now);
            let Some(event) = self.edges.events.pop_front() else {
                break;
            };
            self.controller.on_event(event, &mut self.edges, now);
        }
    }
}

#[cfg(test)]
mod h323_tests;
#[cfg(test)]
mod tests;
