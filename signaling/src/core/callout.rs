//! Calling a room out into a meeting (the operator's invite): we are the
//! UAC. A media leg first (its address goes in our offer), then INVITE to
//! the room's registered contact over the flow it registered on (or a
//! given address); 180/183 show as ringing; 2xx is ACKed, its answer
//! configures the leg and the room joins the meeting exactly like a
//! dial-in; a failure or timeout ends the attempt. Once answered the call
//! is an ordinary dialog: BYE from either side, session refresh, mute.

use std::time::Instant;

use media_api::{Direction, Encryption, LegId};
use meeting::Meeting;
use tracing::{info, warn};

use super::call_rate;
use super::edges::{Edges, ALLOW, SUPPORTED};
use super::room_policy;
use crate::call::NewCall;
use crate::controller::RoomEvent;
use crate::release::Release;
use crate::sdp::{self, Keying};
use crate::sip::dialog::{NewDialog, SipDialog};
use crate::sip::endpoint::random_token;
use crate::sip::{Flow, Message, Method, Transport, TxId};

/// Where and how to call a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialTarget {
    pub flow: Flow,
    /// The room's contact (Request-URI).
    pub uri: String,
    /// Route set to reach it (the Path it registered through).
    pub route: Vec<String>,
    /// The room's name in the meeting.
    pub display_name: String,
    /// Its account's own call rate, kbit/s.
    pub max_call_rate_kbps: Option<u32>,
    /// Its account's own encryption policy.
    pub encryption: Option<Encryption>,
}

impl Edges {
    /// A SIP dialog to call `target` into `meeting`: the call for the
    /// controller, or why not.
    pub(super) fn dial_sip(
        &mut self,
        target: DialTarget,
        meeting: &Meeting,
    ) -> Result<NewCall, String> {
        self.may_dial()?;
        let secure = target.flow.transport == Transport::Tls;
        let policy = room_policy::encryption(
            self.cfg.encryption,
            target.encryption,
            meeting.requires_encryption(),
        );
        if policy == Encryption::Required && !secure {
            return Err(
                "encryption is required, and the room is not registered over TLS (our offers carry SDES keys, over TLS only)"
                    .into(),
            );
        }
        let leg = self.new_leg();
        let us = self.cfg.us(&target.flow);
        let call_id = format!("{}@{}", random_token(), us.ip());
        let local_tag = random_token();
        // The dialog as the rest of the core keeps it: "invite" holds the
        // room's side in From and ours in To, as for a call the room made.
        let mut view = Message::request(Method::Invite, format!("sip:mra@{us}"));
        view.push(
            "From",
            format!(
                "\"{}\" <{}>",
                target.display_name.replace('"', ""),
                target.uri
            ),
        );
        view.push(
            "To",
            format!(
                "\"{}\" <sip:{}@{}>",
                meeting.name.replace('"', ""),
                meeting.number,
                us
            ),
        );
        view.push("Call-ID", call_id.clone());
        info!(%call_id, room = %target.uri, meeting = %meeting.number, "calling a room out");
        let mut dialog = SipDialog::new(NewDialog {
            call_id: call_id.clone(),
            local_tag: local_tag.clone(),
            remote_tag: String::new(),
            invite: view,
            flow: target.flow,
            remote_target: target.uri.clone(),
            route_set: target.route.clone(),
            codecs: call_rate::capped(&self.cfg.codecs, target.max_call_rate_kbps),
            keying: Keying::new(secure, policy),
        });
        dialog.local_cseq = 1;
        self.dialogs.insert((call_id, local_tag), leg);
        self.sip.insert(leg, dialog);
        Ok(NewCall {
            leg,
            display_name: target.display_name,
            caller: target.uri,
            remote: target.flow.remote,
            local_ip: target.flow.local.ip(),
            number: None,
            password: None,
            layout: None,
            media: None,
            video: self.cfg.codecs.video.is_some(),
            clear_only: false,
        })
    }

    /// Whether a room may be called out now.
    pub(super) fn may_dial(&self) -> Result<(), String> {
        if self.shutting_down {
            return Err("shutting down".into());
        }
        Ok(())
    }

    /// The leg of an outgoing call exists: send the INVITE with our offer.
    pub(super) fn send_dial_invite(&mut self, leg: LegId, now: Instant) {
        let flow = self.dialog(leg).flow;
        let (via, contact) = (self.via(&flow), self.contact(&self.sip[&leg]));
        let call = self.dialog(leg);
        let local = call.local.expect("leg created");
        let mut req = Message::request(Method::Invite, call.remote_target.clone());
        req.push("Via", via);
        req.push("Max-Forwards", "70");
        for r in &call.route_set {
            req.push("Route", r.clone());
        }
        req.push(
            "From",
            format!(
                "{};tag={}",
                call.invite.header("To").unwrap_or_default(),
                call.local_tag
            ),
        );
        req.push("To", call.invite.header("From").unwrap_or_default());
        req.push("Call-ID", call.call_id.clone());
        req.push("CSeq", "1 INVITE");
        req.push("Contact", contact);
        req.push("Allow", ALLOW);
        req.push("Supported", SUPPORTED);
        let session = call.sdp;
        let offer = sdp::render_offer(
            &call.codecs,
            local,
            Direction::SendRecv,
            session,
            &mut call.keying,
        );
        req.set_body("application/sdp", offer);
        let tx = self.ep.send_request(req, flow, now);
        self.dialog(leg).dial_tx = Some(tx);
    }

    /// The outgoing call whose INVITE went out on `tx`.
    pub(super) fn dialing(&self, tx: TxId) -> Option<LegId> {
        self.sip
            .iter()
            .find(|(_, d)| d.dial_tx == Some(tx))
            .map(|(leg, _)| *leg)
    }

    /// A response to our INVITE.
    pub(super) fn on_dial_response(&mut self, leg: LegId, resp: Message) {
        let code = resp.status().unwrap_or(500);
        match code {
            100 => {}
            101..=199 => self.report(RoomEvent::Ringing { leg }),
            200..=299 => self.on_dial_answered(leg, resp),
            _ => {
                info!(leg = leg.0, code, "the room did not take the call");
                self.gone(leg);
            }
        }
    }

    /// ACKs the room's 2xx to our INVITE (outside any transaction).
    fn ack(&mut self, leg: LegId, ok: &Message) {
        let Some(call) = self.sip.get(&leg) else {
            return;
        };
        let mut ack = Message::request(Method::Ack, call.remote_target.clone());
        ack.push("Via", self.via(&call.flow));
        ack.push("Max-Forwards", "70");
        for r in &call.route_set {
            ack.push("Route", r.clone());
        }
        for name in ["From", "To", "Call-ID"] {
            if let Some(v) = ok.header(name) {
                ack.push(name, v.to_owned());
            }
        }
        let seq = ok.cseq().map_or(1, |(n, _)| n);
        ack.push("CSeq", format!("{seq} ACK"));
        ack.push("Content-Length", "0");
        let flow = call.flow;
        self.ep.send_stateless(flow, &ack);
    }

    /// The room sent its 2xx to our INVITE again: ACK it again.
    pub(super) fn ack_again(&mut self, ok: &Message) {
        let key = (
            ok.call_id().unwrap_or_default().to_owned(),
            ok.from_tag().unwrap_or_default(),
        );
        let ours = self
            .dialogs
            .get(&key)
            .copied()
            .filter(|leg| self.sip.get(leg).is_some_and(|d| d.confirmed));
        if let Some(leg) = ours {
            self.ack(leg, ok);
        }
    }

    /// Our INVITE timed out.
    pub(super) fn on_dial_timeout(&mut self, leg: LegId) {
        info!(leg = leg.0, "the room did not answer");
        self.gone(leg);
    }

    fn on_dial_answered(&mut self, leg: LegId, ok: Message) {
        let call = self.dialog(leg);
        call.dial_tx = None;
        call.remote_tag = ok.to_tag().unwrap_or_default();
        if let Some(target) = ok.contact_uri() {
            call.remote_target = target;
        }
        let record_route: Vec<String> = ok.list("Record-Route").map(str::to_owned).collect();
        if !record_route.is_empty() {
            call.route_set = record_route.into_iter().rev().collect();
        }
        // The room's side now carries its tag, for our in-dialog requests.
        let room = format!(
            "{};tag={}",
            call.invite.header("From").unwrap_or_default(),
            call.remote_tag
        );
        call.invite.set("From", room);
        for name in ["Allow", "Supported"] {
            if let Some(v) = ok.header(name) {
                call.invite.push(name, v.to_owned());
            }
        }
        call.confirmed = true;
        self.ack(leg, &ok);
        let d = self.dialog(leg);
        let negotiated = match sdp::negotiate(&ok.body, &d.codecs, &mut d.keying) {
            Ok(n) => n,
            Err(e) => {
                warn!(error = %e, "the room's answer is unusable");
                self.fail(leg, Release::Incompatible, "Unusable SDP answer");
                return;
            }
        };
        let video_bound = self.dialog(leg).local.is_some_and(|a| a.video.is_some());
        let media = negotiated.media(video_bound);
        self.dialog(leg).negotiated = Some(negotiated);
        self.report(RoomEvent::Media { leg, media });
        self.report(RoomEvent::Answered { leg });
    }
}
