//! Requests inside a call's dialog: BYE, INFO (DTMF, keyframe requests
//! both ways), re-INVITE and UPDATE (offers, session refreshes), and the
//! ACK confirming our 2xx.

use std::net::SocketAddr;
use std::time::Instant;

use media_api::{Direction, LegId, StreamKind};
use tracing::{info, warn};

use super::edges::{Edges, ALLOW, SUPPORTED};

/// RFC 5168 `picture_fast_update` without `stream_id` (Cisco answers 500
/// to a `stream_id` of 0; rooms with one video stream take it without).
pub(super) const PICTURE_FAST_UPDATE: &str = "<?xml version=\"1.0\" encoding=\"utf-8\" ?>\r\n\
<media_control><vc_primitive><to_encoder><picture_fast_update/></to_encoder></vc_primitive></media_control>\r\n";
use crate::controller::RoomEvent;
use crate::release::Release;
use crate::sdp::{self, Addresses, SdpError};
use crate::sip::endpoint::add_to_tag;
use crate::sip::{Message, Method, TxId};

impl Edges {
    pub(super) fn on_in_dialog(&mut self, tx: TxId, req: Message, now: Instant) {
        let key = (
            req.call_id().unwrap_or_default().to_owned(),
            req.to_tag().unwrap_or_default(),
        );
        let Some(&leg) = self.dialogs.get(&key) else {
            let resp = self.reply(&req, 481, "Call/Transaction Does Not Exist");
            self.ep.respond(tx, &resp, now);
            return;
        };
        let call = self.dialog(leg);
        let seq = req.cseq().map(|c| c.0).unwrap_or(0);
        if seq <= call.remote_cseq && req.method() != Some(Method::Ack) {
            let resp = self.dialog_reply(leg, &req, 500, "Server Internal Error");
            self.ep.respond(tx, &resp, now);
            return;
        }
        call.remote_cseq = seq;
        if let Some(target) = req.contact_uri() {
            call.remote_target = target;
        }
        match req.method().expect("request") {
            Method::Bye => {
                let resp = self.dialog_reply(leg, &req, 200, "OK");
                self.ep.respond(tx, &resp, now);
                info!(call_id = %key.0, "room hung up");
                self.gone(leg);
            }
            Method::Info => self.on_info(leg, tx, &req, now),
            Method::Invite | Method::Update => self.on_offer_in_dialog(leg, tx, req, now),
            _ => {
                let resp = self.dialog_reply(leg, &req, 405, "Method Not Allowed");
                self.ep.respond(tx, &resp, now);
            }
        }
    }

    pub(super) fn dialog_reply(
        &self,
        leg: LegId,
        req: &Message,
        code: u16,
        reason: &str,
    ) -> Message {
        let mut resp = Message::response_to(req, code, reason);
        if let Some(d) = self.sip.get(&leg) {
            if req.to_tag().is_none() {
                add_to_tag(&mut resp, &d.local_tag);
            }
            resp.push("Contact", self.contact(d));
        }
        resp.push("Allow", ALLOW);
        resp.push("Supported", SUPPORTED);
        resp
    }

    fn on_info(&mut self, leg: LegId, tx: TxId, req: &Message, now: Instant) {
        let ct = req.content_type();
        let body = String::from_utf8_lossy(&req.body);
        let digit = match ct.as_str() {
            "application/dtmf-relay" => body.lines().find_map(|l| {
                l.split_once('=')
                    .filter(|(k, _)| k.trim().eq_ignore_ascii_case("signal"))
                    .map(|(_, v)| v.trim().to_owned())
            }),
            "application/dtmf" => Some(body.trim().to_owned()),
            "application/media_control+xml" => {
                if body.contains("picture_fast_update") {
                    self.report(RoomEvent::KeyframeWanted { leg });
                }
                None
            }
            "" => None,
            _ => {
                let mut resp = self.dialog_reply(leg, req, 415, "Unsupported Media Type");
                resp.push(
                    "Accept",
                    "application/dtmf-relay, application/dtmf, application/media_control+xml",
                );
                self.ep.respond(tx, &resp, now);
                return;
            }
        };
        let resp = self.dialog_reply(leg, req, 200, "OK");
        self.ep.respond(tx, &resp, now);
        let digit = digit.and_then(|d| match d.as_str() {
            "10" => Some('*'),
            "11" => Some('#'),
            d => d
                .chars()
                .next()
                .filter(|c| c.is_ascii_digit() || *c == '*' || *c == '#'),
        });
        if let Some(digit) = digit {
            self.report(RoomEvent::Digit { leg, digit });
        }
    }

    /// Asks the room for a keyframe by SIP INFO (RFC 5168): for rooms
    /// without RTCP feedback. Its answer is not waited for.
    pub(super) fn sip_ask_keyframe(&mut self, leg: LegId, now: Instant) {
        let Some(flow) = self.sip.get(&leg).filter(|d| d.confirmed).map(|d| d.flow) else {
            return;
        };
        let via = self.via(&flow);
        let mut info = self.dialog(leg).request(Method::Info, &via);
        info.set_body("application/media_control+xml", PICTURE_FAST_UPDATE);
        self.ep.send_request(info, flow, now);
    }

    /// re-INVITE or UPDATE: hold/unhold, codec change, session refresh.
    fn on_offer_in_dialog(&mut self, leg: LegId, tx: TxId, req: Message, now: Instant) {
        let is_invite = req.method() == Some(Method::Invite);
        if is_invite
            && self
                .dialog(leg)
                .pending_request
                .as_ref()
                .is_some_and(|(_, m)| *m == Method::Invite)
        {
            let resp = self.dialog_reply(leg, &req, 491, "Request Pending");
            self.ep.respond(tx, &resp, now);
            return;
        }
        if !self.precheck(tx, &req, now) {
            return;
        }
        let mut resp = self.dialog_reply(leg, &req, 200, "OK");
        if !req.body.is_empty() {
            let d = self.dialog(leg);
            match sdp::negotiate(&req.body, &d.codecs, &mut d.keying) {
                Ok(n) => {
                    let video_bound = self.dialog(leg).local.is_some_and(|a| a.video.is_some());
                    let media = n.media(video_bound);
                    self.dialog(leg).negotiated = Some(n);
                    self.report(RoomEvent::Media { leg, media });
                }
                Err(e) => {
                    let mut r = self.dialog_reply(leg, &req, 488, "Not Acceptable Here");
                    r.push("Warning", format!("{} mra \"{e}\"", e.warn_code()));
                    self.ep.respond(tx, &r, now);
                    return;
                }
            }
        }
        let d = self.dialog(leg);
        let (bound, flow) = (d.local, d.flow);
        let local = bound.unwrap_or(Addresses {
            audio: SocketAddr::new(self.cfg.us(&flow).ip(), 9),
            video: None,
            dtls_fingerprint: None,
        });
        if !req.body.is_empty() || is_invite {
            let d = self.dialog(leg);
            d.sdp.version += 1;
            let session = d.sdp;
            let body = match (&d.negotiated, req.body.is_empty()) {
                (Some(n), false) => sdp::render_answer(n, local, session),
                _ => sdp::render_offer(
                    &d.codecs,
                    local,
                    Direction::SendRecv,
                    session,
                    &mut d.keying,
                ),
            };
            resp.set_body("application/sdp", body);
        }
        self.apply_session_timer(leg, &req, &mut resp, now);
        if is_invite {
            self.send_ok(leg, tx, resp, now);
        } else {
            self.ep.respond(tx, &resp, now);
        }
        self.reschedule(leg);
    }

    pub(super) fn on_ack(&mut self, ack: &Message, _now: Instant) {
        let key = (
            ack.call_id().unwrap_or_default().to_owned(),
            ack.to_tag().unwrap_or_default(),
        );
        let Some(&leg) = self.dialogs.get(&key) else {
            return;
        };
        let d = self.dialog(leg);
        d.ok_retransmit = None;
        d.confirmed = true;
        if !ack.body.is_empty() {
            let d = self.dialog(leg);
            match sdp::read_answer(&ack.body, &d.codecs, &mut d.keying) {
                Ok(mut media) => {
                    if self.dialog(leg).local.is_none_or(|a| a.video.is_none()) {
                        media.streams.retain(|s| s.kind != StreamKind::Video);
                    }
                    self.report(RoomEvent::Media { leg, media });
                }
                // An answer we cannot take (no common codec, clear where
                // encryption is required) ends the call.
                Err(e) => {
                    let why = if e == SdpError::EncryptionRequired {
                        Release::NotEncrypted
                    } else {
                        Release::Incompatible
                    };
                    warn!(error = %e, "the room's answer in its ACK is unusable");
                    self.fail(leg, why, "Unusable SDP answer");
                }
            }
        }
        self.reschedule(leg);
    }
}
