//! The signaling core: a sans-IO B2BUA-style user agent server for room
//! calls. Fed wire bytes, admission answers, media events and `now`; it
//! returns [`Output`]s (bytes to send, seats to take and give back, media
//! commands). It owns the transaction [`Endpoint`] and every [`Call`];
//! admission is the meeting side's ([`meeting::Seats`]), asked once per
//! call before the room is answered.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use bytes::Bytes;
use media_api::{AudioCodec, BoundStream, Direction, LegId, LegMedia, MediaEvent, MeetingJoin};
use meeting::{Refusal, Seat, SeatId, SeatRequest};
use tracing::{debug, info, info_span};

mod admission;
mod callout;
mod h323;
mod h323_callout;
mod in_dialog;
mod lifecycle;
mod registration;

pub use callout::DialTarget;
pub use h323::{H323Input, H323Output};
pub use h323_callout::H323DialTarget;

use crate::call::{Call, Edge, NewCall, Phase};
use crate::dialstring;
use crate::ivr::{Ivr, IvrConfig, Prompt, Stage, Step};
use crate::release::Release;
use crate::sdp::{self, SdpError};
use crate::sip;
use crate::sip::dialog::{NewDialog, OkRetransmit, SessionTimer, SipDialog};
use crate::sip::endpoint::{add_to_tag, random_token, Output as EpOutput};
use crate::sip::message::{display_name, name_addr_uri, PRODUCT};
use crate::sip::transaction::Timers;
use crate::sip::{Endpoint, Event, Flow, Message, Method, Transport, TxId};

const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE, REGISTER";
const SUPPORTED: &str = "timer, replaces";
const KNOWN_EXTENSIONS: [&str; 2] = ["timer", "replaces"];

/// Settings of the core.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    pub timers: Timers,
    pub force_rport: bool,
    /// Address we put in Via, Contact, SDP and H.245 (NAT, a load
    /// balancer); None: the address each room reached us on.
    pub advertised: Option<IpAddr>,
    /// Our SIP port, in Via and Contact.
    pub sip_port: u16,
    pub codecs: Vec<AudioCodec>,
    pub ivr: IvrConfig,
    pub ivr_enabled: bool,
    /// Smallest session interval we accept (RFC 4028 Min-SE).
    pub min_se: u32,
}

impl CoreConfig {
    /// Our SIP address as the peer of `flow` must see it.
    pub fn us(&self, flow: &Flow) -> SocketAddr {
        SocketAddr::new(self.advertised.unwrap_or(flow.local.ip()), self.sip_port)
    }

    /// An address we bound (media, H.245) as peers must see it.
    pub fn seen(&self, bound: SocketAddr) -> SocketAddr {
        SocketAddr::new(self.advertised.unwrap_or(bound.ip()), bound.port())
    }
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            timers: Timers::default(),
            force_rport: true,
            advertised: None,
            sip_port: 5060,
            codecs: vec![
                AudioCodec::Opus,
                AudioCodec::G722,
                AudioCodec::Pcmu,
                AudioCodec::Pcma,
            ],
            ivr: IvrConfig::default(),
            ivr_enabled: true,
            min_se: 90,
        }
    }
}

/// What the driver feeds in.
#[derive(Debug)]
pub enum Input {
    Sip {
        data: Bytes,
        flow: Flow,
    },
    /// The answer to an [`Output::TakeSeat`]: the seat, why not, or why
    /// no decision could be made.
    Seat {
        leg: LegId,
        result: Result<Result<Seat, Refusal>, String>,
    },
    LegCreated {
        leg: LegId,
        result: Result<BoundStream, String>,
    },
    Media(MediaEvent),
    /// The registrar's answer to an [`Output::Register`].
    Registered {
        tx: TxId,
        reply: registrar::RegisterReply,
    },
    /// Keepalive `id`: send OPTIONS to `target` over `flow`; answered by
    /// [`Output::ProbeResult`].
    Probe {
        id: u64,
        flow: Flow,
        target: String,
    },
    H323(H323Input),
    /// Stop: BYE every answered call, refuse the rest.
    Shutdown,
}

/// What the driver must do.
#[derive(Debug, PartialEq, Eq)]
pub enum Output {
    Transmit {
        flow: Flow,
        data: Bytes,
    },
    /// Admit the call into meeting `number`: answer with [`Input::Seat`].
    TakeSeat {
        leg: LegId,
        request: SeatRequest,
    },
    /// The call holding `seat` has left its meeting.
    ReleaseSeat {
        seat: SeatId,
    },
    CreateLeg {
        leg: LegId,
        ip: IpAddr,
    },
    ConfigureLeg {
        leg: LegId,
        media: LegMedia,
    },
    DestroyLeg {
        leg: LegId,
    },
    /// Join the leg to its meeting as a participant.
    JoinMeeting {
        leg: LegId,
        join: MeetingJoin,
    },
    Prompt {
        leg: LegId,
        prompt: Prompt,
    },
    /// Keepalive `id` was answered (`alive`) or timed out.
    ProbeResult {
        id: u64,
        alive: bool,
    },
    /// Hand a REGISTER to the registrar; answer with [`Input::Registered`].
    Register {
        tx: TxId,
        request: registrar::RegisterRequest,
    },
    H323(H323Output),
}

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
}

/// Call counters for /metrics.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct CallStats {
    pub calls_total: u64,
    pub calls_admitted: u64,
    pub calls_refused: u64,
    pub calls_cancelled: u64,
    pub ivr_entered: u64,
}

/// The signaling state machine.
pub struct Core {
    cfg: CoreConfig,
    ep: Endpoint,
    calls: HashMap<LegId, Call>,
    dialogs: HashMap<(String, String), LegId>,
    /// H.323 calls by call-signalling connection.
    h323_conns: HashMap<u64, LegId>,
    /// REGISTER requests waiting for the registrar.
    registering: HashMap<TxId, Message>,
    /// Keepalive OPTIONS in flight, by transaction.
    probes: HashMap<TxId, u64>,
    heap: BinaryHeap<Reverse<(Instant, LegId)>>,
    out: VecDeque<Output>,
    next_leg: u64,
    shutting_down: bool,
    pub stats: CallStats,
}

impl Core {
    pub fn new(cfg: CoreConfig) -> Core {
        Core {
            ep: Endpoint::new(cfg.timers, cfg.force_rport),
            cfg,
            calls: HashMap::new(),
            dialogs: HashMap::new(),
            h323_conns: HashMap::new(),
            registering: HashMap::new(),
            probes: HashMap::new(),
            heap: BinaryHeap::new(),
            out: VecDeque::new(),
            next_leg: 0,
            shutting_down: false,
            stats: CallStats::default(),
        }
    }

    pub fn endpoint_stats(&self) -> crate::sip::EndpointStats {
        self.ep.stats
    }

    /// Seats this core's calls hold.
    pub fn seats_held(&self) -> usize {
        self.calls.values().filter(|c| c.seat.is_some()).count()
    }

    /// True once shut down with nothing left to finish: no call, no
    /// REGISTER awaiting the registrar, no request of ours but keepalives
    /// waiting for an answer (completed server transactions, which only
    /// absorb retransmissions, do not count).
    pub fn is_idle(&self) -> bool {
        self.calls.is_empty()
            && self.registering.is_empty()
            && self.ep.client_transactions() <= self.probes.len()
    }

    pub fn calls(&self) -> Vec<CallInfo> {
        let mut v: Vec<CallInfo> = self
            .calls
            .values()
            .map(|c| CallInfo {
                id: c.leg.0,
                call_id: match &c.edge {
                    Edge::Sip(d) => d.call_id.clone(),
                    Edge::H323(h) => h.signalling.call_id(),
                },
                from: c.caller.clone(),
                display_name: c.display_name.clone(),
                transport: c.edge.transport(),
                remote: c.remote.to_string(),
                state: match (&c.phase, c.answered) {
                    (Phase::Joined { .. }, _) => "in-meeting",
                    (Phase::Dialing { ringing: false, .. }, _) => "dialing",
                    (Phase::Dialing { ringing: true, .. }, _) => "ringing",
                    (Phase::Ivr(_), _) => "ivr",
                    (Phase::Lookup, true) => "ivr",
                    (Phase::Lookup, false) => "admitting",
                },
                meeting: c.meeting().map(str::to_owned),
                codec: c
                    .media
                    .as_ref()
                    .and_then(LegMedia::audio)
                    .map(|(_, a)| a.codec.rtpmap().to_owned()),
                direction: c
                    .media
                    .as_ref()
                    .and_then(LegMedia::audio)
                    .map(|(s, _)| s.direction.attribute()),
                started_unix: c
                    .started
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0),
            })
            .collect();
        v.sort_by_key(|c| c.id);
        v
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// Earliest timer of the core.
    pub fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(Reverse((at, leg))) = self.heap.peek().copied() {
            if self
                .calls
                .get(&leg)
                .is_some_and(|c| c.scheduled == Some(at))
            {
                break;
            }
            self.heap.pop();
        }
        let calls = self.heap.peek().map(|Reverse((at, _))| *at);
        match (calls, self.ep.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn handle(&mut self, input: Input, now: Instant) {
        match input {
            Input::Sip { data, flow } => {
                self.ep.receive(&data, flow, now);
                self.pump(now);
            }
            Input::Seat { leg, result } => self.on_seat(leg, result, now),
            Input::LegCreated { leg, result } => self.on_leg_created(leg, result, now),
            Input::Media(MediaEvent::Dtmf { leg, digit }) => self.on_digit(leg, digit, now),
            Input::Media(MediaEvent::ActiveSpeaker { leg, participant }) => {
                debug!(leg = leg.0, %participant, "the room's active speaker");
            }
            Input::Media(MediaEvent::MeetingLost { leg, reason }) => {
                if self.calls.contains_key(&leg) {
                    self.end(leg, Release::MeetingLost, &reason, now);
                }
            }
            Input::Registered { tx, reply } => self.on_registered(tx, reply, now),
            Input::Probe { id, flow, target } => self.probe(id, flow, &target, now),
            Input::H323(input) => self.on_h323(input, now),
            Input::Shutdown => self.shutdown(now),
        }
        self.pump(now);
    }

    pub fn on_timer(&mut self, now: Instant) {
        self.ep.on_timer(now);
        self.pump(now);
        while let Some(Reverse((at, leg))) = self.heap.peek().copied() {
            if at > now {
                break;
            }
            self.heap.pop();
            if self
                .calls
                .get(&leg)
                .is_some_and(|c| c.scheduled == Some(at))
            {
                self.calls.get_mut(&leg).expect("checked").scheduled = None;
                self.call_timer(leg, now);
                self.reschedule(leg);
            }
        }
        self.pump(now);
    }

    /// Moves endpoint outputs to our queue and dispatches events.
    fn pump(&mut self, now: Instant) {
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
                        self.on_dial_response(leg, msg, now);
                    } else if !(final_response && self.probe_ended(tx, true)) {
                        self.on_response(tx, msg, now)
                    }
                }
                EpOutput::Event(Event::Timeout { tx }) => {
                    if let Some(leg) = self.dialing(tx) {
                        self.on_dial_timeout(leg);
                    } else if !self.probe_ended(tx, false) {
                        self.on_client_timeout(tx, now)
                    }
                }
            }
        }
    }

    fn reschedule(&mut self, leg: LegId) {
        let Some(call) = self.calls.get_mut(&leg) else {
            return;
        };
        let next = call.next_deadline();
        if next != call.scheduled {
            call.scheduled = next;
            if let Some(at) = next {
                self.heap.push(Reverse((at, leg)));
            }
        }
    }

    fn via(&self, flow: &Flow) -> String {
        format!(
            "SIP/2.0/{} {};branch=z9hG4bK{};rport",
            flow.transport.via_token(),
            self.cfg.us(flow),
            random_token()
        )
    }

    fn contact(&self, flow: &Flow) -> String {
        match flow.transport {
            Transport::Udp => format!("<sip:mra@{}>", self.cfg.us(flow)),
            Transport::Tcp => format!("<sip:mra@{};transport=tcp>", self.cfg.us(flow)),
        }
    }

    // ---- requests ---------------------------------------------------------

    fn on_request(&mut self, tx: Option<TxId>, msg: Message, flow: Flow, now: Instant) {
        let method = msg.method().expect("request");
        let Some(tx) = tx else {
            self.on_ack(&msg, now);
            return;
        };
        let in_dialog = msg.to_tag().is_some();
        if method != Method::Cancel && !self.supports_required(tx, &msg, now) {
            return;
        }
        match method {
            Method::Invite if !in_dialog => self.on_invite(tx, msg, flow, now),
            Method::Cancel => self.on_cancel(tx, &msg, now),
            Method::Options => {
                let mut resp = self.reply(&msg, 200, "OK");
                resp.push("Accept", "application/sdp");
                resp.push("Accept-Language", "en");
                self.ep.respond(tx, &resp, now);
            }
            Method::Register => self.on_register(tx, msg, flow, now),
            _ if in_dialog => self.on_in_dialog(tx, msg, now),
            Method::Subscribe
            | Method::Notify
            | Method::Refer
            | Method::Message
            | Method::Publish
            | Method::Prack => {
                let resp = self.reply(&msg, 405, "Method Not Allowed");
                self.ep.respond(tx, &resp, now);
            }
            Method::Bye | Method::Info | Method::Update => {
                let resp = self.reply(&msg, 481, "Call/Transaction Does Not Exist");
                self.ep.respond(tx, &resp, now);
            }
            _ => {
                let resp = self.reply(&msg, 501, "Not Implemented");
                self.ep.respond(tx, &resp, now);
            }
        }
    }

    /// A response carrying Allow/Supported/To-tag, for requests outside any call.
    fn reply(&self, req: &Message, code: u16, reason: &str) -> Message {
        let mut resp = Message::response_to(req, code, reason);
        if req.to_tag().is_none() && code > 100 {
            add_to_tag(&mut resp, &random_token());
        }
        resp.push("Allow", ALLOW);
        resp.push("Supported", SUPPORTED);
        resp
    }

    fn reject(
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

    /// RFC 3261 8.2.2.3: 420 listing the Require option tags we do not support.
    fn supports_required(&mut self, tx: TxId, req: &Message, now: Instant) -> bool {
        let unknown: Vec<&str> = req
            .list("Require")
            .filter(|t| !KNOWN_EXTENSIONS.iter().any(|k| k.eq_ignore_ascii_case(t)))
            .collect();
        if !unknown.is_empty() {
            let mut resp = self.reply(req, 420, "Bad Extension");
            resp.push("Unsupported", unknown.join(", "));
            self.ep.respond(tx, &resp, now);
            return false;
        }
        true
    }

    /// Checks common to INVITE, re-INVITE and UPDATE; answers and returns false on failure.
    fn precheck(&mut self, tx: TxId, req: &Message, now: Instant) -> bool {
        if !req.body.is_empty() {
            let ct = req.content_type();
            if ct != "application/sdp" {
                let mut resp = self.reply(req, 415, "Unsupported Media Type");
                resp.push("Accept", "application/sdp");
                self.ep.respond(tx, &resp, now);
                return false;
            }
        }
        let accepts_sdp = req.header("Accept").is_none()
            || req.list("Accept").any(|a| {
                let a = a
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                a == "application/sdp" || a == "application/*" || a == "*/*"
            });
        if !accepts_sdp {
            let mut resp = self.reply(req, 406, "Not Acceptable");
            resp.push("Accept", "application/sdp");
            self.ep.respond(tx, &resp, now);
            return false;
        }
        if let Some(se) = session_expires(req) {
            if se.0 < self.cfg.min_se {
                let mut resp = self.reply(req, 422, "Session Interval Too Small");
                resp.push("Min-SE", self.cfg.min_se.to_string());
                self.ep.respond(tx, &resp, now);
                return false;
            }
        }
        true
    }

    fn on_invite(&mut self, tx: TxId, req: Message, flow: Flow, now: Instant) {
        self.stats.calls_total += 1;
        if self.shutting_down {
            self.reject(
                tx,
                &req,
                503,
                "Service Unavailable",
                Some((399, "Shutting down".into())),
                now,
            );
            return;
        }
        if !self.precheck(tx, &req, now) {
            return;
        }
        let negotiated = if req.body.is_empty() {
            None
        } else {
            match sdp::negotiate(&req.body, &self.cfg.codecs) {
                Ok(n) => Some(n),
                Err(e) => {
                    self.stats.calls_refused += 1;
                    let code = if matches!(e, SdpError::Malformed(_)) {
                        400
                    } else {
                        488
                    };
                    let reason = if code == 400 {
                        "Bad Request"
                    } else {
                        "Not Acceptable Here"
                    };
                    self.reject(
                        tx,
                        &req,
                        code,
                        reason,
                        Some((e.warn_code(), e.to_string())),
                        now,
                    );
                    return;
                }
            }
        };
        self.next_leg += 1;
        let leg = LegId(self.next_leg);
        let call_id = req.call_id().unwrap_or_default().to_owned();
        let dial = dialstring::parse(req.request_uri().unwrap_or_default());
        let from = req.header("From").unwrap_or_default();
        let shown = display_name(from)
            .or_else(|| {
                name_addr_uri(from).and_then(|u| {
                    rsip::Uri::try_from(u.as_str())
                        .ok()?
                        .user()
                        .map(str::to_owned)
                })
            })
            .unwrap_or_else(|| "Room".into());
        let _span =
            info_span!("call", call_id = %call_id, room = %flow.remote, leg = leg.0).entered();
        info!(dialed = req.request_uri().unwrap_or_default(), display = %shown, transport = flow.transport.via_token(), "incoming call");
        let caller = req
            .header("From")
            .and_then(name_addr_uri)
            .unwrap_or_default();
        let mut dialog = SipDialog::new(NewDialog {
            call_id: call_id.clone(),
            local_tag: random_token(),
            remote_tag: req.from_tag().unwrap_or_default(),
            remote_target: req.contact_uri().unwrap_or_else(|| caller.clone()),
            route_set: req.list("Record-Route").map(str::to_owned).collect(),
            flow,
            invite: req,
        });
        dialog.remote_cseq = dialog.invite.cseq().map(|c| c.0).unwrap_or(0);
        dialog.invite_tx = Some(tx);
        let trying = Message::response_to(&dialog.invite, 100, "Trying");
        self.ep.respond(tx, &trying, now);
        self.dialogs
            .insert((call_id, dialog.local_tag.clone()), leg);
        let media = negotiated.as_ref().map(|n| LegMedia::of(n.audio.clone()));
        dialog.negotiated = negotiated;
        let mut call = Call::new(NewCall {
            leg,
            display_name: shown,
            caller,
            remote: flow.remote,
            local_ip: flow.local.ip(),
            phase: Phase::Lookup,
            edge: Edge::Sip(Box::new(dialog)),
        });
        call.number = dial.number;
        call.password = dial.password;
        call.media = media;
        let admit = call.number.is_some();
        self.calls.insert(leg, call);
        match admit {
            true => self.take_seat(leg),
            false => self.enter_ivr(leg, Stage::Number, 0, now),
        }
    }

    fn on_cancel(&mut self, tx: TxId, req: &Message, now: Instant) {
        let invite_tx = self.ep.cancelled_invite(req);
        let leg = invite_tx.and_then(|itx| {
            self.calls
                .values()
                .find(|c| c.sip().is_some_and(|d| d.invite_tx == Some(itx)))
                .map(|c| c.leg)
        });
        let Some(leg) = leg.or(invite_tx.map(|_| LegId(0))) else {
            let resp = self.reply(req, 481, "Call/Transaction Does Not Exist");
            self.ep.respond(tx, &resp, now);
            return;
        };
        let mut ok = Message::response_to(req, 200, "OK");
        if let Some(d) = self.calls.get(&leg).and_then(Call::sip) {
            add_to_tag(&mut ok, &d.local_tag);
        }
        self.ep.respond(tx, &ok, now);
        if self.calls.get(&leg).is_some_and(|c| !c.answered) {
            self.stats.calls_cancelled += 1;
            self.end(leg, Release::Cancelled, "", now);
        }
    }
}

/// The SIP dialog of `leg`, which must be a live SIP call (found through
/// the dialogs map, or handling a SIP event of its own).
fn dialog(calls: &mut HashMap<LegId, Call>, leg: LegId) -> &mut SipDialog {
    calls
        .get_mut(&leg)
        .and_then(Call::sip_mut)
        .expect("a live SIP call")
}

/// Session-Expires interval and refresher parameter, if present.
fn session_expires(req: &Message) -> Option<(u32, Option<String>)> {
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

#[cfg(test)]
mod h323_tests;
#[cfg(test)]
mod tests;
