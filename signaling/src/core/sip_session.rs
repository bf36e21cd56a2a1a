//! A SIP call's session: the 200 OK answering the room and its
//! retransmission until ACK, the session timer and our refreshes, the
//! answers to our in-dialog requests, and ending the call (a final
//! response before the answer, BYE with a Reason after it).

use std::time::{Duration, Instant};

use bytes::Bytes;
use media_api::{Direction, LegId};
use tracing::{info, warn};

use super::edges::{session_expires, Edges, SUPPORTED};
use super::io::Output;
use crate::release::Release;
use crate::sdp;
use crate::sip;
use crate::sip::dialog::{OkRetransmit, SessionTimer};
use crate::sip::endpoint::{add_to_tag, random_token};
use crate::sip::message::PRODUCT;
use crate::sip::{Message, Method, TxId};

impl Edges {
    /// 200 OK to the room's INVITE, with our answer (or our offer, when
    /// the INVITE had none).
    pub(super) fn sip_answer(&mut self, leg: LegId, now: Instant) {
        let d = self.dialog(leg);
        let (Some(tx), Some(local)) = (d.invite_tx, d.local) else {
            return;
        };
        let invite = d.invite.clone();
        let mut ok = self.dialog_reply(leg, &invite, 200, "OK");
        let d = self.sip.get_mut(&leg).expect("live SIP call");
        let body = match &d.negotiated {
            Some(n) => sdp::render_answer(n, local, d.sdp),
            None => sdp::render_offer(&d.codecs, local, Direction::SendRecv, d.sdp, &mut d.keying),
        };
        ok.set_body("application/sdp", body);
        self.apply_session_timer(leg, &invite, &mut ok, now);
        self.send_ok(leg, tx, ok, now);
        self.reschedule(leg);
    }

    /// Sends a 2xx to an INVITE and keeps retransmitting it until ACK.
    pub(super) fn send_ok(&mut self, leg: LegId, tx: TxId, ok: Message, now: Instant) {
        self.ep.respond(tx, &ok, now);
        let t = self.cfg.timers;
        let call = self.dialog(leg);
        if call.invite_tx == Some(tx) {
            call.invite_tx = None;
        }
        call.ok_retransmit = (!call.flow.transport.is_reliable()).then(|| OkRetransmit {
            bytes: ok.to_bytes(),
            next: now + t.t1,
            interval: t.t1,
            give_up: now + t.long(),
        });
        if call.flow.transport.is_reliable() {
            // Over TCP there is no retransmission, but the ACK must still arrive within 64*T1.
            call.ok_retransmit = Some(OkRetransmit {
                bytes: Bytes::new(),
                next: now + t.long(),
                interval: t.long(),
                give_up: now + t.long(),
            });
        }
    }

    pub(super) fn apply_session_timer(
        &mut self,
        leg: LegId,
        req: &Message,
        resp: &mut Message,
        now: Instant,
    ) {
        let Some((interval, refresher)) = session_expires(req) else {
            return;
        };
        let uac_supports = req.has_tag("Supported", "timer");
        let refresher = refresher.unwrap_or(if uac_supports { "uac" } else { "uas" }.into());
        resp.push(
            "Session-Expires",
            format!("{interval};refresher={refresher}"),
        );
        if uac_supports {
            resp.push("Require", "timer");
        }
        self.dialog(leg).session_timer = Some(SessionTimer::new(
            Duration::from_secs(interval.into()),
            refresher == "uas",
            now,
        ));
    }

    /// The SIP dialog's timers: 2xx retransmission, session timer.
    pub(super) fn dialog_timer(&mut self, leg: LegId, now: Instant) {
        let t2 = self.cfg.timers.t2;
        let call = self.sip.get_mut(&leg).expect("live SIP call");
        let mut resend = None;
        if let Some(r) = call.ok_retransmit.as_mut() {
            if r.give_up <= now {
                call.ok_retransmit = None;
                warn!(call_id = %call.call_id, "no ACK for 2xx");
                self.fail(leg, Release::Timeout, "No ACK received");
                return;
            }
            if r.next <= now {
                r.interval = (r.interval * 2).min(t2);
                r.next = now + r.interval;
                resend = Some(Output::Transmit {
                    flow: call.flow,
                    data: r.bytes.clone(),
                });
            }
        }
        let expired = call.session_timer.filter(|s| s.due <= now);
        call.session_timer = match expired {
            Some(st) if st.we_refresh => Some(SessionTimer::new(st.interval, true, now)),
            Some(_) => None,
            None => call.session_timer,
        };
        let call_id = call.call_id.clone();
        self.out.extend(resend);
        match expired {
            Some(st) if st.we_refresh => self.refresh(leg, now),
            Some(_) => {
                info!(%call_id, "session timer expired");
                self.fail(leg, Release::Timeout, "Session timer expired");
            }
            None => {}
        }
    }

    /// Refreshes the session: UPDATE if the room allows it, else re-INVITE.
    pub(super) fn refresh(&mut self, leg: LegId, now: Instant) {
        let flow = self.dialog(leg).flow;
        let (via, contact) = (self.via(&flow), self.contact(&self.sip[&leg]));
        let call = self.dialog(leg);
        let local = call.local;
        if call.pending_request.is_some() || !call.confirmed {
            return;
        }
        let use_update = call.invite.has_tag("Allow", "UPDATE");
        let method = if use_update {
            Method::Update
        } else {
            Method::Invite
        };
        let mut req = call.request(method.clone(), &via);
        req.push("Contact", contact);
        req.push("Supported", SUPPORTED);
        req.push(
            "Session-Expires",
            format!(
                "{};refresher=uas",
                call.session_timer
                    .map(|s| s.interval.as_secs())
                    .unwrap_or(1800)
            ),
        );
        if !use_update {
            if let (Some(n), Some(local)) = (&call.negotiated, local) {
                req.set_body("application/sdp", sdp::render_answer(n, local, call.sdp));
            }
        }
        let flow = call.flow;
        let tx = self.ep.send_request(req, flow, now);
        self.dialog(leg).pending_request = Some((tx, method));
    }

    pub(super) fn on_response(&mut self, tx: TxId, resp: Message) {
        let Some(leg) = self.requesting(tx) else {
            // A 2xx to our INVITE again (its transaction is Accepted, RFC
            // 6026): our ACK was lost.
            let invite_2xx = resp.status().is_some_and(|c| (200..300).contains(&c))
                && resp.cseq().is_some_and(|(_, m)| m == Method::Invite);
            if invite_2xx {
                self.ack_again(&resp);
            }
            return;
        };
        let code = resp.status().unwrap_or(500);
        if code < 200 {
            return;
        }
        let flow = self.dialog(leg).flow;
        let us = self.cfg.us(&flow);
        let call = self.dialog(leg);
        let (_, method) = call.pending_request.take().expect("matched");
        if method == Method::Invite && (200..300).contains(&code) {
            let mut ack = Message::request(Method::Ack, call.remote_target.clone());
            ack.push(
                "Via",
                format!(
                    "SIP/2.0/{} {};branch=z9hG4bK{}",
                    call.flow.transport.via_token(),
                    us,
                    random_token()
                ),
            );
            ack.push("Max-Forwards", "70");
            for r in &call.route_set {
                ack.push("Route", r.clone());
            }
            for name in ["From", "To", "Call-ID"] {
                ack.push(name, resp.header(name).unwrap_or_default());
            }
            let seq = resp.cseq().map(|c| c.0).unwrap_or(call.local_cseq);
            ack.push("CSeq", format!("{seq} ACK"));
            let flow = call.flow;
            self.ep.send_stateless(flow, &ack);
        }
        if method == Method::Bye {
            self.gone(leg);
        } else if code == 408 {
            self.fail(leg, Release::Timeout, "Session refresh failed");
        } else if code == 481 {
            self.fail(leg, Release::Gone, "Session refresh failed");
        }
    }

    /// The call whose in-dialog request of ours went out on `tx`.
    fn requesting(&self, tx: TxId) -> Option<LegId> {
        self.sip
            .iter()
            .find(|(_, d)| d.pending_request.as_ref().is_some_and(|(t, _)| *t == tx))
            .map(|(leg, _)| *leg)
    }

    pub(super) fn on_client_timeout(&mut self, tx: TxId) {
        let Some(leg) = self.requesting(tx) else {
            return;
        };
        let method = self.dialog(leg).pending_request.take().map(|(_, m)| m);
        if method == Some(Method::Bye) {
            self.gone(leg);
        } else {
            self.fail(leg, Release::Timeout, "Session refresh timed out");
        }
    }

    /// Answers the room's INVITE with the final response for `why` (and a
    /// Warning saying `text`), and forgets the call.
    pub(super) fn sip_refuse(&mut self, leg: LegId, why: Release, text: &str, now: Instant) {
        let d = self.dialog(leg);
        if let Some(tx) = d.invite_tx {
            let (code, reason) = sip::release::status(why);
            let mut resp = Message::response_to(&d.invite, code, reason);
            add_to_tag(&mut resp, &d.local_tag);
            if !text.is_empty() {
                resp.push("Warning", format!("399 mra \"{}\"", text.replace('"', "'")));
            }
            self.ep.respond(tx, &resp, now);
        }
        self.gone(leg);
    }

    /// Ends an answered call with BYE and a Reason header (RFC 3326).
    pub(super) fn sip_hang_up(&mut self, leg: LegId, why: Release, text: &str, now: Instant) {
        let flow = self.dialog(leg).flow;
        let via = self.via(&flow);
        let d = self.dialog(leg);
        let (cause, _) = sip::release::status(why);
        info!(call_id = %d.call_id, cause, reason = text, "hanging up");
        d.ok_retransmit = None;
        d.session_timer = None;
        let mut bye = d.request(Method::Bye, &via);
        bye.push("Reason", format!("SIP;cause={cause};text=\"{text}\""));
        bye.push("User-Agent", PRODUCT);
        let tx = self.ep.send_request(bye, flow, now);
        self.dialog(leg).pending_request = Some((tx, Method::Bye));
    }
}
