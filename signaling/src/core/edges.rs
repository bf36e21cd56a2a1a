//! The protocol edges of the core: the SIP endpoint with its dialogs, the
//! H.323 calls, REGISTER and keepalives. They turn what rooms send into
//! [`RoomEvent`]s for the controller and carry out its
//! [`RoomSignaling`] requests, each in its own protocol.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use media_api::LegId;

use super::io::{CoreConfig, Output};
use super::room_policy::RoomPolicies;
use crate::call::{Call, Phase};
use crate::controller::{RoomEvent, RoomSignaling};
use crate::h323::leg::H323Leg;
use crate::release::Release;
use crate::sip::dialog::SipDialog;
use crate::sip::endpoint::{add_to_tag, random_token, Output as EpOutput};
use crate::sip::{Endpoint, Event, Flow, Message, Transport, TxId};

pub(super) const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE, REGISTER";
pub(super) const SUPPORTED: &str = "timer, replaces";

/// SIP and H.323 state of every call, and what is not a call.
pub(super) struct Edges {
    pub cfg: CoreConfig,
    pub ep: Endpoint,
    /// SIP calls' dialogs, and the calls by (Call-ID, our tag).
    pub sip: HashMap<LegId, SipDialog>,
    pub dialogs: HashMap<(String, String), LegId>,
    /// H.323 calls, and the calls by call-signalling connection.
    pub h323: HashMap<LegId, H323Leg>,
    pub h323_conns: HashMap<u64, LegId>,
    /// REGISTER requests waiting for the registrar.
    pub registering: HashMap<TxId, Message>,
    /// Keepalive OPTIONS in flight, by transaction.
    pub probes: HashMap<TxId, u64>,
    /// SIP dialogs' timers.
    heap: BinaryHeap<Reverse<(Instant, LegId)>>,
    pub out: VecDeque<Output>,
    /// What rooms did, for the controller.
    pub events: VecDeque<RoomEvent>,
    next_leg: u64,
    pub shutting_down: bool,
    /// Calls answered without becoming a call (shutting down, bad SDP),
    /// and of those the ones refused for what they offered.
    pub turned_away: u64,
    pub refused: u64,
    /// Room accounts' own call rates.
    pub room_policies: Arc<RoomPolicies>,
    /// H.323 calls' bandwidth granted by our gatekeeper, kbit/s each way,
    /// by call identity.
    pub grants: HashMap<String, u32>,
}

impl Edges {
    pub fn new(cfg: CoreConfig) -> Edges {
        Edges {
            ep: Endpoint::new(cfg.timers, cfg.force_rport),
            cfg,
            sip: HashMap::new(),
            dialogs: HashMap::new(),
            h323: HashMap::new(),
            h323_conns: HashMap::new(),
            registering: HashMap::new(),
            probes: HashMap::new(),
            heap: BinaryHeap::new(),
            out: VecDeque::new(),
            events: VecDeque::new(),
            next_leg: 0,
            shutting_down: false,
            turned_away: 0,
            refused: 0,
            room_policies: Arc::default(),
            grants: HashMap::new(),
        }
    }

    /// An id for a new call.
    pub fn new_leg(&mut self) -> LegId {
        self.next_leg += 1;
        LegId(self.next_leg)
    }

    /// No REGISTER awaiting the registrar, no request of ours but
    /// keepalives waiting for an answer.
    pub fn is_idle(&self) -> bool {
        self.registering.is_empty() && self.ep.client_transactions() <= self.probes.len()
    }

    /// The call's id in its protocol (SIP Call-ID, H.225 callIdentifier).
    pub fn call_id(&self, leg: LegId) -> String {
        match (self.sip.get(&leg), self.h323.get(&leg)) {
            (Some(d), _) => d.call_id.clone(),
            (_, Some(h)) => h.signalling.call_id(),
            _ => String::new(),
        }
    }

    /// The transport as the admin API names it.
    pub fn transport(&self, leg: LegId) -> &'static str {
        match self.sip.get(&leg) {
            Some(d) => d.flow.transport.via_token(),
            None => "h323",
        }
    }

    pub fn report(&mut self, event: RoomEvent) {
        self.events.push_back(event);
    }

    /// The call has to end for `why`: the controller decides how.
    pub fn fail(&mut self, leg: LegId, why: Release, text: &str) {
        let text = text.to_owned();
        self.report(RoomEvent::Failed { leg, why, text });
    }

    /// The call is over on the wire.
    pub fn gone(&mut self, leg: LegId) {
        self.report(RoomEvent::Gone { leg });
    }

    /// The SIP dialog of `leg`, which must be a live SIP call (found
    /// through the dialogs map, or handling a SIP event of its own).
    /// Asks a room without RTCP feedback for a keyframe the way its
    /// signaling does it: SIP INFO `picture_fast_update`, H.245
    /// videoFastUpdatePicture.
    pub fn ask_keyframe(&mut self, leg: LegId, now: Instant) {
        match self.h323.contains_key(&leg) {
            true => self.h323_ask_keyframe(leg),
            false => self.sip_ask_keyframe(leg, now),
        }
    }

    pub fn dialog(&mut self, leg: LegId) -> &mut SipDialog {
        self.sip.get_mut(&leg).expect("a live SIP call")
    }

    pub fn next_deadline(&mut self) -> Option<Instant> {
        let mut dialogs = None;
        while let Some(Reverse((at, leg))) = self.heap.peek().copied() {
            if self.sip.get(&leg).is_some_and(|d| d.scheduled == Some(at)) {
                dialogs = Some(at);
                break;
            }
            self.heap.pop();
        }
        match (dialogs, self.ep.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn on_timer(&mut self, now: Instant) {
        self.ep.on_timer(now);
        while let Some(Reverse((at, leg))) = self.heap.peek().copied() {
            if at > now {
                break;
            }
            self.heap.pop();
            let Some(d) = self.sip.get_mut(&leg).filter(|d| d.scheduled == Some(at)) else {
                continue;
            };
            d.scheduled = None;
            self.dialog_timer(leg, now);
            self.reschedule(leg);
        }
    }

    /// Puts the dialog's next deadline in the heap.
    pub fn reschedule(&mut self, leg: LegId) {
        let Some(d) = self.sip.get_mut(&leg) else {
            return;
        };
        let next = d.next_deadline();
        if next != d.scheduled {
            d.scheduled = next;
            if let Some(at) = next {
                self.heap.push(Reverse((at, leg)));
            }
        }
    }

    /// Handles what the SIP endpoint has for us.
    pub fn pump(&mut self, now: Instant) {
        while let Some(o) = self.ep.poll_output() {
            match o {
                EpOutput::Transmit { flow, data } => {
                    self.out.push_back(Output::Transmit { flow, data })
                }
                EpOutput::Event(Event::Request { tx, msg, flow }) => {
                    self.on_request(tx, msg, flow, now)
                }
                EpOutput::Event(Event::Response { tx, msg }) => {
                    let final_response = msg.status().is_some_and(|c| c >= 200);
                    if let Some(leg) = self.dialing(tx) {
                        self.on_dial_response(leg, msg);
                    } else if !(final_response && self.probe_ended(tx, true)) {
                        self.on_response(tx, msg)
                    }
                }
                EpOutput::Event(Event::Timeout { tx }) => {
                    if let Some(leg) = self.dialing(tx) {
                        self.on_dial_timeout(leg);
                    } else if !self.probe_ended(tx, false) {
                        self.on_client_timeout(tx)
                    }
                }
            }
        }
    }

    pub fn via(&self, flow: &Flow) -> String {
        format!(
            "SIP/2.0/{} {};branch=z9hG4bK{};rport",
            flow.transport.via_token(),
            self.cfg.us(flow),
            random_token()
        )
    }

    /// Our Contact in dialog `d`: on its flow, and a `sips:` one when the
    /// dialog was made with a `sips:` Request-URI (RFC 3261 12.1.1).
    pub fn contact(&self, d: &SipDialog) -> String {
        let us = self.cfg.us(&d.flow);
        match d.flow.transport {
            Transport::Tls if d.is_sips() => format!("<sips:mra@{us}>"),
            Transport::Udp => format!("<sip:mra@{us}>"),
            t => format!("<sip:mra@{us};transport={}>", t.name()),
        }
    }

    /// A response carrying Allow/Supported/To-tag, for requests outside any call.
    pub fn reply(&self, req: &Message, code: u16, reason: &str) -> Message {
        let mut resp = Message::response_to(req, code, reason);
        if req.to_tag().is_none() && code > 100 {
            add_to_tag(&mut resp, &random_token());
        }
        resp.push("Allow", ALLOW);
        resp.push("Supported", SUPPORTED);
        resp
    }

    pub fn reject(
        &mut self,
        tx: TxId,
        req: &Message,
        code: u16,
        reason: &str,
        warning: Option<(u16, String)>,
        now: Instant,
    ) {
        let mut resp = self.reply(req, code, reason);
        if let Some((wc, text)) = warning {
            resp.push(
                "Warning",
                format!("{wc} mra \"{}\"", text.replace('"', "'")),
            );
        }
        self.ep.respond(tx, &resp, now);
    }
}

/// What the controller asks of a call, done in the call's protocol.
impl RoomSignaling for Edges {
    fn answering(&mut self, call: &Call, _now: Instant) {
        if self.h323.contains_key(&call.leg) {
            self.h323_answer(call);
        }
    }

    fn media_ready(&mut self, call: &Call, now: Instant) {
        let leg = call.leg;
        let local = call.local_media.expect("media bound");
        let dialing = matches!(call.phase, Phase::Dialing { .. });
        if let Some(d) = self.sip.get_mut(&leg) {
            d.local = Some(local.addresses());
            match dialing {
                true => self.send_dial_invite(leg, now),
                false => self.sip_answer(leg, now),
            }
        } else if self.h323.contains_key(&leg) {
            match dialing {
                true => self.h323_send_setup(leg, local),
                false => self.h323_leg_created(call, local),
            }
        }
    }

    fn release(&mut self, call: &Call, why: Release, text: &str, now: Instant) {
        let leg = call.leg;
        match self.sip.get(&leg) {
            Some(d) if d.invite_tx.is_some() || call.local_media.is_none() => {
                self.sip_refuse(leg, why, text, now)
            }
            Some(_) => self.sip_hang_up(leg, why, text, now),
            None => self.h323_release(leg, why, text),
        }
    }

    fn forget(&mut self, leg: LegId) {
        if let Some(d) = self.sip.remove(&leg) {
            self.dialogs.remove(&(d.call_id, d.local_tag));
        }
        if let Some(h) = self.h323.remove(&leg) {
            self.h323_conns.remove(&h.conn);
        }
    }
}

/// Session-Expires interval and refresher parameter, if present.
pub(super) fn session_expires(req: &Message) -> Option<(u32, Option<String>)> {
    let v = req.header("Session-Expires")?;
    let mut parts = v.split(';');
    let interval = parts.next()?.trim().parse().ok()?;
    let refresher = parts.find_map(|p| {
        p.trim()
            .strip_prefix("refresher=")
            .map(|r| r.trim().to_ascii_lowercase())
    });
    Some((interval, refresher))
}
