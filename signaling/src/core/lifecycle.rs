//! Answering, timers, our own in-dialog requests (refresh, BYE), and
//! ending calls.

use std::time::{Duration, Instant};

use bytes::Bytes;
use media_api::{Direction, LegId};
use meeting::Refusal;
use tracing::{info, warn};

use super::*;

impl Core {
    /// The room is to be answered: a media leg first (the answer carries
    /// its address); an H.323 room's H.245 connection meanwhile.
    pub(super) fn answer(&mut self, leg: LegId) {
        let call = self.calls.get_mut(&leg).expect("live call");
        call.answered = true;
        let ip = call.local_ip;
        self.out.push_back(Output::CreateLeg { leg, ip });
        if matches!(call.edge, Edge::H323(_)) {
            self.h323_answer(leg);
        }
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
                warn!(leg = leg.0, error = %e, "no media leg");
                self.end(leg, Release::Unavailable, "No media resources", now);
                return;
            }
        };
        call.local_media = Some(local);
        match (&call.edge, matches!(call.phase, Phase::Dialing { .. })) {
            (Edge::H323(_), true) => self.h323_send_setup(leg),
            (Edge::H323(_), false) => self.h323_leg_created(leg, local, now),
            (Edge::Sip(_), true) => self.send_dial_invite(leg, now),
            (Edge::Sip(_), false) => self.sip_answer(leg, local, now),
        }
    }

    /// 200 OK to the room's INVITE, with our answer (or our offer, when
    /// the INVITE had none).
    fn sip_answer(&mut self, leg: LegId, local: BoundStream, now: Instant) {
        let call = self.calls.get_mut(&leg).expect("live call");
        let Edge::Sip(d) = &call.edge else { return };
        let Some(tx) = d.invite_tx else { return };
        if let Some(media) = call.media.clone() {
            self.out.push_back(Output::ConfigureLeg { leg, media });
        }
        let invite = d.invite.clone();
        let mut ok = self.dialog_reply(leg, &invite, 200, "OK");
        let d = dialog(&mut self.calls, leg);
        let body = match &d.negotiated {
            Some(n) => sdp::render_answer(n, local.rtp, d.sdp),
            None => sdp::render_offer(&self.cfg.codecs, local.rtp, Direction::SendRecv, d.sdp),
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
        let call = dialog(&mut self.calls, leg);
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
        dialog(&mut self.calls, leg).session_timer = Some(SessionTimer::new(
            Duration::from_secs(interval.into()),
            refresher == "uas",
            now,
        ));
    }

    pub(super) fn call_timer(&mut self, leg: LegId, now: Instant) {
        let sip = self.calls.get(&leg).is_some_and(|c| c.sip().is_some());
        if sip && !self.dialog_timer(leg, now) {
            return;
        }
        if let Some(Phase::Ivr(ivr)) = self.calls.get_mut(&leg).map(|c| &mut c.phase) {
            if let Some(step) = ivr.on_timer(now) {
                self.ivr_step(leg, step, Refusal::UnknownMeeting, now);
            }
        }
    }

    /// The SIP dialog's timers; false when they ended the call.
    fn dialog_timer(&mut self, leg: LegId, now: Instant) -> bool {
        let t2 = self.cfg.timers.t2;
        let call = dialog(&mut self.calls, leg);
        let mut resend = None;
        if let Some(r) = call.ok_retransmit.as_mut() {
            if r.give_up <= now {
                call.ok_retransmit = None;
                warn!(call_id = %call.call_id, "no ACK for 2xx");
                self.end(leg, Release::Timeout, "No ACK received", now);
                return false;
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
                self.end(leg, Release::Timeout, "Session timer expired", now);
                return false;
            }
            None => {}
        }
        true
    }

    /// Refreshes the session: UPDATE if the room allows it, else re-INVITE.
    pub(super) fn refresh(&mut self, leg: LegId, now: Instant) {
        let flow = dialog(&mut self.calls, leg).flow;
        let (via, contact) = (self.via(&flow), self.contact(&flow));
        let local = self.calls[&leg].local_media.map(|m| m.rtp);
        let call = dialog(&mut self.calls, leg);
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
        dialog(&mut self.calls, leg).pending_request = Some((tx, method));
    }

    pub(super) fn on_response(&mut self, tx: TxId, resp: Message, now: Instant) {
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
        let flow = dialog(&mut self.calls, leg).flow;
        let us = self.cfg.us(&flow);
        let call = dialog(&mut self.calls, leg);
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
            self.end_call(leg);
        } else if code == 408 {
            self.end(leg, Release::Timeout, "Session refresh failed", now);
        } else if code == 481 {
            self.end(leg, Release::Gone, "Session refresh failed", now);
        }
    }

    /// The call whose in-dialog request of ours went out on `tx`.
    fn requesting(&self, tx: TxId) -> Option<LegId> {
        self.calls
            .values()
            .find(|c| {
                c.sip()
                    .and_then(|d| d.pending_request.as_ref())
                    .is_some_and(|(t, _)| *t == tx)
            })
            .map(|c| c.leg)
    }

    pub(super) fn on_client_timeout(&mut self, tx: TxId, now: Instant) {
        let Some(leg) = self.requesting(tx) else {
            return;
        };
        let method = dialog(&mut self.calls, leg)
            .pending_request
            .take()
            .map(|(_, m)| m);
        if method == Some(Method::Bye) {
            self.end_call(leg);
        } else {
            self.end(leg, Release::Timeout, "Session refresh timed out", now);
        }
    }

    /// Ends the call for `why` (`text` says more, for people): before the
    /// answer a SIP room gets a final response, after it a BYE with a
    /// `Reason`; an H.323 room gets ReleaseComplete.
    pub(super) fn end(&mut self, leg: LegId, why: Release, text: &str, now: Instant) {
        let Some(call) = self.calls.get(&leg) else {
            return;
        };
        match &call.edge {
            Edge::H323(_) => self.h323_release(leg, why, text),
            Edge::Sip(d) if d.invite_tx.is_some() || call.local_media.is_none() => {
                self.sip_refuse(leg, why, text, now)
            }
            Edge::Sip(_) => self.sip_hang_up(leg, why, text, now),
        }
    }

    /// Answers the room's INVITE with the final response for `why` (and a
    /// Warning saying `text`), and forgets the call.
    fn sip_refuse(&mut self, leg: LegId, why: Release, text: &str, now: Instant) {
        let d = dialog(&mut self.calls, leg);
        if let Some(tx) = d.invite_tx {
            let (code, reason) = sip::release::status(why);
            let mut resp = Message::response_to(&d.invite, code, reason);
            add_to_tag(&mut resp, &d.local_tag);
            if !text.is_empty() {
                resp.push("Warning", format!("399 mra \"{}\"", text.replace('"', "'")));
            }
            self.ep.respond(tx, &resp, now);
        }
        self.end_call(leg);
    }

    /// Ends an answered call with BYE and a Reason header (RFC 3326).
    fn sip_hang_up(&mut self, leg: LegId, why: Release, text: &str, now: Instant) {
        let call = self.calls.get_mut(&leg).expect("live call");
        if call.ending {
            return;
        }
        call.ending = true;
        call.phase = Phase::Lookup;
        self.release_seat(leg);
        let flow = dialog(&mut self.calls, leg).flow;
        let via = self.via(&flow);
        let d = dialog(&mut self.calls, leg);
        let (cause, _) = sip::release::status(why);
        info!(call_id = %d.call_id, cause, reason = text, "hanging up");
        d.ok_retransmit = None;
        d.session_timer = None;
        let mut bye = d.request(Method::Bye, &via);
        bye.push("Reason", format!("SIP;cause={cause};text=\"{text}\""));
        bye.push("User-Agent", PRODUCT);
        let tx = self.ep.send_request(bye, flow, now);
        dialog(&mut self.calls, leg).pending_request = Some((tx, Method::Bye));
    }

    pub(super) fn end_call(&mut self, leg: LegId) {
        self.release_seat(leg);
        let Some(call) = self.calls.remove(&leg) else {
            return;
        };
        match &call.edge {
            Edge::Sip(d) => {
                self.dialogs
                    .remove(&(d.call_id.clone(), d.local_tag.clone()));
            }
            Edge::H323(h) => {
                self.h323_conns.remove(&h.conn);
            }
        }
        if call.answered {
            self.out.push_back(Output::DestroyLeg { leg });
        }
        info!(leg = leg.0, "call ended");
    }

    pub(super) fn shutdown(&mut self, now: Instant) {
        self.shutting_down = true;
        let legs: Vec<LegId> = self.calls.keys().copied().collect();
        for leg in legs {
            self.end(leg, Release::Unavailable, "Shutting down", now);
        }
    }
}
