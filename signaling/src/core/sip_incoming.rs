//! Requests outside any dialog: a new call's INVITE (checked, its offer
//! negotiated, reported to the controller), CANCEL, OPTIONS, REGISTER
//! handed on, and the answers to what we do not do.

use std::time::Instant;

use tracing::{info, info_span};

use super::call_rate;
use super::edges::{session_expires, Edges};
use crate::call::NewCall;
use crate::controller::RoomEvent;
use crate::dialstring;
use crate::sdp::{self, Keying, SdpError};
use crate::sip::dialog::{NewDialog, SipDialog};
use crate::sip::endpoint::{add_to_tag, random_token};
use crate::sip::message::{display_name, name_addr_uri};
use crate::sip::{Flow, Message, Method, Transport, TxId};

const KNOWN_EXTENSIONS: [&str; 2] = ["timer", "replaces"];

impl Edges {
    pub(super) fn on_request(&mut self, tx: Option<TxId>, msg: Message, flow: Flow, now: Instant) {
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
    pub(super) fn precheck(&mut self, tx: TxId, req: &Message, now: Instant) -> bool {
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
        if self.shutting_down {
            self.turned_away += 1;
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
        let caller = req
            .header("From")
            .and_then(name_addr_uri)
            .unwrap_or_default();
        let room = rsip::Uri::try_from(caller.as_str())
            .ok()
            .and_then(|u| u.user().map(str::to_owned));
        let policy = self.room_policy(room.as_deref());
        let codecs = call_rate::capped(&self.cfg.codecs, policy.max_call_rate_kbps);
        let mut keying = Keying::new(flow.transport == Transport::Tls, self.encryption_of(policy));
        let negotiated = if req.body.is_empty() {
            None
        } else {
            match sdp::negotiate(&req.body, &codecs, &mut keying) {
                Ok(n) => Some(n),
                Err(e) => {
                    self.turned_away += 1;
                    self.refused += 1;
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
        let leg = self.new_leg();
        let call_id = req.call_id().unwrap_or_default().to_owned();
        let dial = dialstring::parse(req.request_uri().unwrap_or_default());
        let from = req.header("From").unwrap_or_default();
        let shown = display_name(from).or(room).unwrap_or_else(|| "Room".into());
        let _span =
            info_span!("call", call_id = %call_id, room = %flow.remote, leg = leg.0).entered();
        info!(dialed = req.request_uri().unwrap_or_default(), display = %shown, transport = flow.transport.via_token(), "incoming call");
        let mut dialog = SipDialog::new(NewDialog {
            call_id: call_id.clone(),
            local_tag: random_token(),
            remote_tag: req.from_tag().unwrap_or_default(),
            remote_target: req.contact_uri().unwrap_or_else(|| caller.clone()),
            route_set: req.list("Record-Route").map(str::to_owned).collect(),
            codecs,
            keying,
            flow,
            invite: req,
        });
        dialog.remote_cseq = dialog.invite.cseq().map(|c| c.0).unwrap_or(0);
        dialog.invite_tx = Some(tx);
        let trying = Message::response_to(&dialog.invite, 100, "Trying");
        self.ep.respond(tx, &trying, now);
        self.dialogs
            .insert((call_id, dialog.local_tag.clone()), leg);
        let media = negotiated.as_ref().map(|n| n.media(true));
        // A late offer gets ours, with video.
        let video = negotiated
            .as_ref()
            .map_or(dialog.codecs.video.is_some(), |n| n.video.is_some());
        dialog.negotiated = negotiated;
        self.sip.insert(leg, dialog);
        self.report(RoomEvent::Incoming(NewCall {
            leg,
            display_name: shown,
            caller,
            remote: flow.remote,
            local_ip: flow.local.ip(),
            number: dial.number,
            password: dial.password,
            layout: dial.layout,
            clear_only: false,
            media,
            video,
        }));
    }

    fn on_cancel(&mut self, tx: TxId, req: &Message, now: Instant) {
        let invite_tx = self.ep.cancelled_invite(req);
        let leg = invite_tx.and_then(|itx| {
            self.sip
                .iter()
                .find(|(_, d)| d.invite_tx == Some(itx))
                .map(|(leg, _)| *leg)
        });
        if invite_tx.is_none() {
            let resp = self.reply(req, 481, "Call/Transaction Does Not Exist");
            self.ep.respond(tx, &resp, now);
            return;
        }
        let mut ok = Message::response_to(req, 200, "OK");
        if let Some(d) = leg.and_then(|leg| self.sip.get(&leg)) {
            add_to_tag(&mut ok, &d.local_tag);
        }
        self.ep.respond(tx, &ok, now);
        if let Some(leg) = leg {
            self.report(RoomEvent::Cancelled { leg });
        }
    }
}
