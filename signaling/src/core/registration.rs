//! REGISTER in the core: the request is handed to the registrar (which
//! needs the store, so it runs outside the sans-IO core) and its reply
//! comes back as an input, answered on the same server transaction — over
//! the same TCP connection, or to the UDP source address (rport). Also the
//! keepalive of registered rooms: an OPTIONS to a binding's flow, whose
//! answer (any final response) or silence says whether the room is there.

use std::time::Instant;

use registrar::{RegisterReply, RegisterRequest};

use super::edges::Edges;
use super::io::Output;
use crate::sip::endpoint::{add_to_tag, random_token};
use crate::sip::message::name_addr_uri;
use crate::sip::{Flow, Message, Method, TxId};

impl Edges {
    pub(super) fn on_register(&mut self, tx: TxId, req: Message, flow: Flow, now: Instant) {
        let expires = match req.header("Expires").map(|e| e.trim().parse::<u64>()) {
            None => None,
            Some(Ok(v)) => Some(u32::try_from(v).unwrap_or(u32::MAX)),
            Some(Err(_)) => {
                return self.reject(
                    tx,
                    &req,
                    400,
                    "Bad Request",
                    Some((399, "Expires is not a number".into())),
                    now,
                )
            }
        };
        // The endpoint has checked To and CSeq are there; the registrar
        // decides on what they say (domain first, then credentials).
        let to_uri = req.header("To").and_then(name_addr_uri).unwrap_or_default();
        let cseq = req.cseq().map_or(0, |c| c.0);
        let request = RegisterRequest {
            request_uri: req.request_uri().unwrap_or_default().to_owned(),
            to_uri,
            call_id: req.call_id().unwrap_or_default().to_owned(),
            cseq,
            contacts: req.all("Contact").map(str::to_owned).collect(),
            expires,
            authorization: req.all("Authorization").map(str::to_owned).collect(),
            path: req.all("Path").map(str::to_owned).collect(),
            supported: req.list("Supported").map(str::to_owned).collect(),
            user_agent: req.header("User-Agent").map(str::to_owned),
            source: flow.remote,
            transport: flow.transport.name(),
        };
        self.registering.insert(tx, req);
        self.out.push_back(Output::Register { tx, request });
    }

    /// Sends keepalive `id`: OPTIONS to `target` over `flow`.
    pub(super) fn probe(&mut self, id: u64, flow: Flow, target: &str, now: Instant) {
        let mut req = Message::request(Method::Options, target);
        req.push("Via", self.via(&flow));
        req.push("Max-Forwards", "70");
        let (us, tag) = (self.cfg.us(&flow), random_token());
        req.push("From", format!("<sip:mra@{us}>;tag={tag}"));
        req.push("To", format!("<{target}>"));
        req.push("Call-ID", format!("{}@{}", random_token(), us.ip()));
        req.push("CSeq", "1 OPTIONS");
        req.push("Content-Length", "0");
        let tx = self.ep.send_request(req, flow, now);
        self.probes.insert(tx, id);
    }

    /// A keepalive's transaction ended: answered (`alive`) or timed out.
    /// False when `tx` was not a keepalive.
    pub(super) fn probe_ended(&mut self, tx: TxId, alive: bool) -> bool {
        match self.probes.remove(&tx) {
            Some(id) => {
                self.out.push_back(Output::ProbeResult { id, alive });
                true
            }
            None => false,
        }
    }

    /// The registrar's answer to the REGISTER on `tx`.
    pub(super) fn on_registered(&mut self, tx: TxId, reply: RegisterReply, now: Instant) {
        let Some(req) = self.registering.remove(&tx) else {
            return;
        };
        let mut resp = Message::response_to(&req, reply.code, reply.reason);
        add_to_tag(&mut resp, &random_token());
        for (name, value) in reply.headers {
            resp.push(name, value);
        }
        if reply.code == 200 {
            resp.push(
                "Date",
                httpdate::fmt_http_date(std::time::SystemTime::now()),
            );
            resp.push("Supported", "path, outbound");
        }
        self.ep.respond(tx, &resp, now);
    }
}
