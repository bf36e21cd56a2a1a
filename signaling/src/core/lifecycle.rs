//! Answering, timers, our own in-dialog requests (refresh, BYE), and
//! ending calls.

use std::time::{Duration, Instant};

use bytes::Bytes;
use media_api::{Direction, LegId};
use meeting::Refusal;
use tracing::{info, warn};

use super::*;

impl Core {
    pub(super) fn answer(&mut self, leg: LegId) {
        let call = self.calls.get_mut(&leg).expect("live call");
        call.answered = true;
        let ip = Core::media_bind(&call.flow);
        self.out.push_back(Output::CreateLeg { leg, ip });
        self.h323_answer(leg);
    }

    pub(super) fn on_leg_created(
        &mut self,
        leg: LegId,
        result: Result<BoundStream, String>,
        now: Instant,
    ) {
        let Some(call) = self.calls.get_mut(&leg) else {
            self.out.push_back(Output::DestroyLeg { leg });
            return;
        };
        let local = match result {
            // What rooms are told: the advertised address, if there is one.
            Ok(b) => BoundStream {
                rtp: self.cfg.seen(b.rtp),
                rtcp: self.cfg.seen(b.rtcp),
                ..b
            },
            Err(e) => {
                warn!(call_id = %call.call_id, error = %e, "no media leg");
                self.fail_invite(
                    leg,
                    503,
                    "Service Unavailable",
                    Some("No media resources"),
                    now,
                );
                return;
            }
        };
        call.local_rtp = Some(local.rtp);
        call.local_media = Some(local);
        match (
            call.h323.is_some(),
            matches!(call.phase, Phase::Dialing { .. }),
        ) {
            (true, true) => return self.h323_send_setup(leg),
            (true, false) => return self.h323_leg_created(leg, local, now),
            (false, true) => return self.send_dial_invite(leg, now),
            (false, false) => {}
        }
        let Some(tx) = call.invite_tx else { return };
        if let Some(media) = call.media.clone() {
            self.out.push_back(Output::ConfigureLeg { leg, media });
        }
        let invite = call.invite.clone();
        let mut ok = self.dialog_reply(leg, &invite, 200, "OK");
        let call = self.calls.get_mut(&leg).expect("live call");
        let body = match &call.negotiated {
            Some(n) => sdp::render_answer(n, local.rtp, call.sdp),
            None => sdp::render_offer(&self.cfg.codecs, local.rtp, Direction::SendRecv, call.sdp),
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
        let call = self.calls.get_mut(&leg).expect("live call");
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
        let call = self.calls.get_mut(&leg).expect("live call");
        call.session_timer = Some(SessionTimer::new(
            Duration::from_secs(interval.into()),
            refresher == "uas",
            now,
        ));
    }

    pub(super) fn call_timer(&mut self, leg: LegId, now: Instant) {
        let Some(call) = self.calls.get_mut(&leg) else {
            return;
        };
        if let Some(r) = call.ok_retransmit.as_mut() {
            if r.give_up <= now {
                call.ok_retransmit = None;
                warn!(call_id = %call.call_id, "no ACK for 2xx");
                self.hang_up(leg, 408, "No ACK received", now);
                return;
            }
            if r.next <= now {
                let flow = call.flow;
                let bytes = r.bytes.clone();
                r.interval = (r.interval * 2).min(self.cfg.timers.t2);
                r.next = now + r.interval;
                self.out.push_back(Output::Transmit { flow, data: bytes });
            }
        }
        if let Some(st) = call.session_timer.filter(|s| s.due <= now) {
            if st.we_refresh {
                call.session_timer = Some(SessionTimer::new(st.interval, true, now));
                self.refresh(leg, now);
            } else {
                call.session_timer = None;
                info!(call_id = %call.call_id, "session timer expired");
                self.hang_up(leg, 408, "Session timer expired", now);
                return;
            }
        }
        if let Some(Phase::Ivr(ivr)) = self.calls.get_mut(&leg).map(|c| &mut c.phase) {
            if let Some(step) = ivr.on_timer(now) {
                self.ivr_step(leg, step, Refusal::UnknownMeeting, now);
            }
        }
    }

    /// Refreshes the session: UPDATE if the room allows it, else re-INVITE.
    pub(super) fn refresh(&mut self, leg: LegId, now: Instant) {
        let via = self.via(&self.calls[&leg].flow);
        let contact = self.contact(&self.calls[&leg].flow);
        let call = self.calls.get_mut(&leg).expect("live call");
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
            if let (Some(n), Some(local)) = (&call.negotiated, call.local_rtp) {
                req.set_body("application/sdp", sdp::render_answer(n, local, call.sdp));
            }
        }
        let flow = call.flow;
        let tx = self.ep.send_request(req, flow, now);
        self.calls.get_mut(&leg).expect("live call").pending_request = Some((tx, method));
    }

    pub(super) fn on_response(&mut self, tx: TxId, resp: Message, now: Instant) {
        let Some(leg) = self
            .calls
            .values()
            .find(|c| c.pending_request.as_ref().is_some_and(|(t, _)| *t == tx))
            .map(|c| c.leg)
        else {
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
        let call = self.calls.get_mut(&leg).expect("live call");
        let (_, method) = call.pending_request.take().expect("matched");
        if method == Method::Invite && (200..300).contains(&code) {
            let mut ack = Message::request(Method::Ack, call.remote_target.clone());
            ack.push(
                "Via",
                format!(
                    "SIP/2.0/{} {};branch=z9hG4bK{}",
                    call.flow.transport.via_token(),
                    self.cfg.us(&call.flow),
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
            self.end_call(leg);
        } else if matches!(code, 408 | 481) {
            self.hang_up(leg, code, "Session refresh failed", now);
        }
    }

    pub(super) fn on_client_timeout(&mut self, tx: TxId, now: Instant) {
        let Some(leg) = self
            .calls
            .values()
            .find(|c| c.pending_request.as_ref().is_some_and(|(t, _)| *t == tx))
            .map(|c| c.leg)
        else {
            return;
        };
        let method = self
            .calls
            .get_mut(&leg)
            .and_then(|c| c.pending_request.take())
            .map(|(_, m)| m);
        if method == Some(Method::Bye) {
            self.end_call(leg);
        } else {
            self.hang_up(leg, 408, "Session refresh timed out", now);
        }
    }

    /// Answers the INVITE with an error and forgets the call.
    pub(super) fn fail_invite(
        &mut self,
        leg: LegId,
        code: u16,
        reason: &str,
        warning: Option<&str>,
        now: Instant,
    ) {
        let Some(call) = self.calls.get(&leg) else {
            return;
        };
        if call.h323.is_some() {
            return self.h323_release(leg, code, warning.unwrap_or(reason));
        }
        if let Some(tx) = call.invite_tx {
            let mut resp = Message::response_to(&call.invite, code, reason);
            add_to_tag(&mut resp, &call.local_tag);
            if let Some(w) = warning {
                resp.push("Warning", format!("399 mra \"{w}\""));
            }
            self.ep.respond(tx, &resp, now);
        }
        self.end_call(leg);
    }

    /// Ends an answered call with BYE and a Reason header (RFC 3326).
    pub(super) fn hang_up(&mut self, leg: LegId, cause: u16, text: &str, now: Instant) {
        let Some(call) = self.calls.get(&leg) else {
            return;
        };
        if call.h323.is_some() {
            return self.h323_release(leg, cause, text);
        }
        if !call.answered || call.local_rtp.is_none() {
            self.fail_invite(leg, cause, "Request Terminated", Some(text), now);
            return;
        }
        if call.ending {
            return;
        }
        let via = self.via(&call.flow);
        let call = self.calls.get_mut(&leg).expect("live call");
        info!(call_id = %call.call_id, cause, reason = text, "hanging up");
        call.ending = true;
        call.ok_retransmit = None;
        call.session_timer = None;
        call.phase = Phase::Lookup;
        self.release_seat(leg);
        let call = self.calls.get_mut(&leg).expect("live call");
        let mut bye = call.request(Method::Bye, &via);
        bye.push("Reason", format!("SIP;cause={cause};text=\"{text}\""));
        bye.push("User-Agent", PRODUCT);
        let flow = call.flow;
        let tx = self.ep.send_request(bye, flow, now);
        self.calls.get_mut(&leg).expect("live call").pending_request = Some((tx, Method::Bye));
    }

    pub(super) fn end_call(&mut self, leg: LegId) {
        let Some(call) = self.calls.remove(&leg) else {
            return;
        };
        self.dialogs
            .remove(&(call.call_id.clone(), call.local_tag.clone()));
        if let Some(h) = &call.h323 {
            self.h323_conns.remove(&h.conn);
        }
        if let Some(seat) = call.seat {
            self.out.push_back(Output::ReleaseSeat { seat });
        }
        if call.answered {
            self.out.push_back(Output::DestroyLeg { leg });
        }
        info!(call_id = %call.call_id, "call ended");
    }

    pub(super) fn shutdown(&mut self, now: Instant) {
        self.shutting_down = true;
        let legs: Vec<LegId> = self.calls.keys().copied().collect();
        for leg in legs {
            if self.calls[&leg].local_rtp.is_some() {
                self.hang_up(leg, 503, "Service shutting down", now);
            } else {
                self.fail_invite(leg, 503, "Service Unavailable", Some("Shutting down"), now);
            }
        }
    }
}
