//! The transaction-layer front door: bytes from a flow are lexed,
//! validated (bad requests answered statelessly), matched to server or
//! client transactions (RFC 3261 17.1.3 / 17.2.3), and handed to the TU as
//! [`Event`]s; the TU answers through [`Endpoint::respond`] and sends with
//! [`Endpoint::send_request`]. Time is explicit; timers live in one heap.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use tracing::{debug, warn};

use super::lexer::lex;
use super::message::{parse_via, split_list, Message};
use super::transaction::{ClientTx, ServerTx, Timers, TxOutput};
use super::validate::{check, Verdict};
use super::Method;

/// Transport protocol of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
    /// TLS over TCP (RFC 3261 26.2; `sips:` and `;transport=tls`).
    Tls,
}

impl Transport {
    /// Whether the transport itself delivers (a byte stream: TCP, TLS).
    pub fn is_reliable(self) -> bool {
        self != Transport::Udp
    }

    pub fn via_token(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        }
    }

    /// The name bindings and room accounts store (`udp`, `tcp`, `tls`).
    pub fn name(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }

    /// The transport [`Transport::name`] names.
    pub fn from_name(name: &str) -> Option<Transport> {
        [Transport::Udp, Transport::Tcp, Transport::Tls]
            .into_iter()
            .find(|t| name.eq_ignore_ascii_case(t.name()))
    }
}

/// Where a message came from / goes to: a UDP peer, or one TCP or TLS
/// connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Flow {
    pub transport: Transport,
    pub remote: SocketAddr,
    /// Our address on it: the one the peer sent to (or, for a flow we
    /// open, the one we send from). Via, Contact and SDP name it unless
    /// an address is configured to be advertised.
    pub local: SocketAddr,
    /// TCP or TLS connection number; 0 for UDP.
    pub conn: u64,
}

/// Identifies a transaction for the TU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxId(u64);

/// What the endpoint hands to the TU.
#[derive(Debug)]
pub enum Event {
    /// A new request. `tx` is `None` for an ACK to a 2xx (it belongs to the dialog).
    Request {
        tx: Option<TxId>,
        msg: Message,
        flow: Flow,
    },
    /// A response to a request the TU sent.
    Response { tx: TxId, msg: Message },
    /// A request the TU sent got no final response in time.
    Timeout { tx: TxId },
}

/// What the endpoint asks of its driver.
#[derive(Debug)]
pub enum Output {
    Transmit { flow: Flow, data: Bytes },
    Event(Event),
}

/// Counters for the admin API and /metrics.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct EndpointStats {
    pub requests: u64,
    pub responses: u64,
    pub rejected_malformed: u64,
    pub dropped_not_sip: u64,
    pub dropped_malformed_responses: u64,
    pub stray_responses: u64,
    pub retransmissions_absorbed: u64,
}

struct Entry<T> {
    tx: T,
    flow: Flow,
    key: String,
    scheduled: Option<Instant>,
}

/// Transaction layer state for one SIP listener set.
pub struct Endpoint {
    timers: Timers,
    force_rport: bool,
    next_id: u64,
    server: HashMap<TxId, Entry<ServerTx>>,
    server_keys: HashMap<String, TxId>,
    client: HashMap<TxId, Entry<ClientTx>>,
    client_keys: HashMap<String, TxId>,
    heap: BinaryHeap<Reverse<(Instant, TxId)>>,
    out: VecDeque<Output>,
    scratch: Vec<TxOutput>,
    pub stats: EndpointStats,
}

impl Endpoint {
    /// `force_rport`: answer UDP requests to their source port even without `rport` (NAT-friendly).
    pub fn new(timers: Timers, force_rport: bool) -> Endpoint {
        Endpoint {
            timers,
            force_rport,
            next_id: 0,
            server: HashMap::new(),
            server_keys: HashMap::new(),
            client: HashMap::new(),
            client_keys: HashMap::new(),
            heap: BinaryHeap::new(),
            out: VecDeque::new(),
            scratch: Vec::new(),
            stats: EndpointStats::default(),
        }
    }

    pub fn timers(&self) -> Timers {
        self.timers
    }

    /// Next output for the driver or TU.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// Earliest transaction deadline.
    pub fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(Reverse((at, id))) = self.heap.peek().copied() {
            let live = self
                .server
                .get(&id)
                .map(|e| e.scheduled)
                .or_else(|| self.client.get(&id).map(|e| e.scheduled));
            if live == Some(Some(at)) {
                return Some(at);
            }
            self.heap.pop();
        }
        None
    }

    /// Number of live transactions.
    pub fn transactions(&self) -> usize {
        self.server.len() + self.client.len()
    }

    /// Number of live client transactions (requests we sent).
    pub fn client_transactions(&self) -> usize {
        self.client.len()
    }

    /// Bytes received on a flow: one UDP datagram or one framed TCP message.
    pub fn receive(&mut self, data: &[u8], flow: Flow, now: Instant) {
        let lexed = match lex(data) {
            Ok(l) => l,
            Err(_) => {
                self.stats.dropped_not_sip += 1;
                warn!(source = %flow.remote, bytes = data.len(), "dropped datagram that is not SIP");
                return;
            }
        };
        match check(&lexed) {
            Verdict::Accept => {}
            Verdict::Drop(why) => {
                self.stats.dropped_malformed_responses += 1;
                warn!(source = %flow.remote, reason = %why, "dropped malformed response");
                return;
            }
            Verdict::Reject {
                code,
                reason,
                warning,
            } => {
                self.stats.rejected_malformed += 1;
                warn!(source = %flow.remote, code, reason = %warning, "rejected malformed request");
                let req = lexed.message;
                if req.method() == Some(Method::Ack) {
                    return;
                }
                let mut resp = Message::response_to(&req, code, reason);
                if req.to_tag().is_none() {
                    add_to_tag(&mut resp, &random_token());
                }
                resp.push(
                    "Warning",
                    format!("399 mra \"{}\"", warning.replace('"', "'")),
                );
                let dest = self.response_flow(&req, flow);
                self.transmit(dest, resp.to_bytes());
                return;
            }
        }
        let msg = lexed.message;
        if msg.is_request() {
            self.stats.requests += 1;
            self.receive_request(msg, flow, now);
        } else {
            self.stats.responses += 1;
            self.receive_response(msg, now);
        }
    }

    fn receive_request(&mut self, mut msg: Message, flow: Flow, now: Instant) {
        stamp_received(&mut msg, flow.remote);
        let method = msg.method().expect("request");
        let Some(key) = server_key(&msg) else { return };
        if let Some(&id) = self.server_keys.get(&key) {
            let entry = self.server.get_mut(&id).expect("key maps to live tx");
            self.scratch.clear();
            entry.tx.on_request(&msg, now, &mut self.scratch);
            self.stats.retransmissions_absorbed += 1;
            self.apply_server(id, now);
            return;
        }
        if method == Method::Ack {
            self.out.push_back(Output::Event(Event::Request {
                tx: None,
                msg,
                flow,
            }));
            return;
        }
        let id = self.new_id();
        let dest = self.response_flow(&msg, flow);
        let tx = ServerTx::new(&method, flow.transport.is_reliable(), self.timers);
        self.server_keys.insert(key.clone(), id);
        self.server.insert(
            id,
            Entry {
                tx,
                flow: dest,
                key,
                scheduled: None,
            },
        );
        self.out.push_back(Output::Event(Event::Request {
            tx: Some(id),
            msg,
            flow,
        }));
    }

    fn receive_response(&mut self, msg: Message, now: Instant) {
        let Some(id) = client_key(&msg).and_then(|k| self.client_keys.get(&k).copied()) else {
            self.stats.stray_responses += 1;
            debug!(call_id = msg.call_id(), "response matches no transaction");
            return;
        };
        let entry = self.client.get_mut(&id).expect("key maps to live tx");
        self.scratch.clear();
        entry.tx.on_response(&msg, now, &mut self.scratch);
        self.apply_client(id, now);
    }

    /// The server transaction of the INVITE that a CANCEL names.
    pub fn cancelled_invite(&self, cancel: &Message) -> Option<TxId> {
        let key = server_key(cancel)?;
        let invite_key = key.strip_suffix("CANCEL").map(|k| format!("{k}INVITE"))?;
        self.server_keys.get(&invite_key).copied()
    }

    /// Whether a server transaction has sent its final response.
    pub fn is_final(&self, tx: TxId) -> bool {
        self.server.get(&tx).is_none_or(|e| e.tx.is_final())
    }

    /// Sends a response through a server transaction.
    pub fn respond(&mut self, tx: TxId, resp: &Message, now: Instant) {
        let Some(entry) = self.server.get_mut(&tx) else {
            return;
        };
        self.scratch.clear();
        entry.tx.respond(resp, now, &mut self.scratch);
        self.apply_server(tx, now);
    }

    /// Sends a request in a new client transaction. The top Via must carry a fresh branch.
    pub fn send_request(&mut self, req: Message, flow: Flow, now: Instant) -> TxId {
        let id = self.new_id();
        let key = client_key(&req).unwrap_or_else(|| format!("tx{}", id.0));
        self.scratch.clear();
        let tx = ClientTx::start(
            req,
            flow.transport.is_reliable(),
            self.timers,
            now,
            &mut self.scratch,
        );
        self.client_keys.insert(key.clone(), id);
        self.client.insert(
            id,
            Entry {
                tx,
                flow,
                key,
                scheduled: None,
            },
        );
        self.apply_client(id, now);
        id
    }

    /// Sends outside any transaction (ACK for 2xx, 2xx retransmissions).
    pub fn send_stateless(&mut self, flow: Flow, msg: &Message) {
        self.transmit(flow, msg.to_bytes());
    }

    /// Runs every transaction timer due at `now`.
    pub fn on_timer(&mut self, now: Instant) {
        while let Some(Reverse((at, id))) = self.heap.peek().copied() {
            if at > now {
                break;
            }
            self.heap.pop();
            if let Some(e) = self.server.get_mut(&id).filter(|e| e.scheduled == Some(at)) {
                e.scheduled = None;
                self.scratch.clear();
                e.tx.on_timer(now, &mut self.scratch);
                self.apply_server(id, now);
            } else if let Some(e) = self.client.get_mut(&id).filter(|e| e.scheduled == Some(at)) {
                e.scheduled = None;
                self.scratch.clear();
                e.tx.on_timer(now, &mut self.scratch);
                self.apply_client(id, now);
            }
        }
    }

    fn apply_server(&mut self, id: TxId, _now: Instant) {
        let entry = self.server.get_mut(&id).expect("live tx");
        let flow = entry.flow;
        for o in self.scratch.drain(..) {
            match o {
                TxOutput::Send(data) => self.out.push_back(Output::Transmit { flow, data }),
                TxOutput::Deliver(_) | TxOutput::Timeout => {}
            }
        }
        if entry.tx.is_terminated() {
            let key = std::mem::take(&mut entry.key);
            self.server_keys.remove(&key);
            self.server.remove(&id);
        } else if let Some(at) = entry
            .tx
            .next_deadline()
            .filter(|at| entry.scheduled != Some(*at))
        {
            entry.scheduled = Some(at);
            self.heap.push(Reverse((at, id)));
        }
    }

    fn apply_client(&mut self, id: TxId, _now: Instant) {
        let entry = self.client.get_mut(&id).expect("live tx");
        let flow = entry.flow;
        for o in self.scratch.drain(..) {
            match o {
                TxOutput::Send(data) => self.out.push_back(Output::Transmit { flow, data }),
                TxOutput::Deliver(msg) => self
                    .out
                    .push_back(Output::Event(Event::Response { tx: id, msg })),
                TxOutput::Timeout => self.out.push_back(Output::Event(Event::Timeout { tx: id })),
            }
        }
        if entry.tx.is_terminated() {
            let key = std::mem::take(&mut entry.key);
            self.client_keys.remove(&key);
            self.client.remove(&id);
        } else if let Some(at) = entry
            .tx
            .next_deadline()
            .filter(|at| entry.scheduled != Some(*at))
        {
            entry.scheduled = Some(at);
            self.heap.push(Reverse((at, id)));
        }
    }

    fn transmit(&mut self, flow: Flow, data: Bytes) {
        self.out.push_back(Output::Transmit { flow, data });
    }

    fn new_id(&mut self) -> TxId {
        self.next_id += 1;
        TxId(self.next_id)
    }

    /// Where responses to `req` go (RFC 3261 18.2.2, RFC 3581).
    fn response_flow(&self, req: &Message, flow: Flow) -> Flow {
        if flow.transport.is_reliable() || self.force_rport {
            return flow;
        }
        match req.top_via() {
            Some(via) if !via.rport => Flow {
                remote: SocketAddr::new(flow.remote.ip(), via.port.unwrap_or(5060)),
                ..flow
            },
            _ => flow,
        }
    }
}

/// Adds `received` (and fills `rport`) on the top Via (RFC 3261 18.2.1, RFC 3581).
fn stamp_received(msg: &mut Message, source: SocketAddr) {
    let Some(line) = msg
        .headers
        .iter_mut()
        .find(|h| h.name.eq_ignore_ascii_case("Via"))
    else {
        return;
    };
    let mut elements: Vec<String> = split_list(&line.value).map(str::to_owned).collect();
    let Some(top) = elements.first_mut() else {
        return;
    };
    let Some(via) = parse_via(top) else { return };
    let ip = source.ip().to_string();
    let mut params: Vec<String> = top.split(';').map(str::to_owned).collect();
    let mut changed = false;
    if via.rport {
        for p in params.iter_mut().skip(1) {
            if p.trim().eq_ignore_ascii_case("rport") {
                *p = format!("rport={}", source.port());
            }
        }
        changed = true;
    }
    if via.host != ip || via.rport {
        params.retain(|p| !p.trim().to_ascii_lowercase().starts_with("received="));
        params.push(format!("received={ip}"));
        changed = true;
    }
    if changed {
        *top = params.join(";");
        line.value = elements.join(", ");
    }
}

/// RFC 3261 17.2.3 server transaction key (ACK maps to its INVITE); RFC 2543 fallback.
fn server_key(msg: &Message) -> Option<String> {
    let via = msg.top_via()?;
    let method = match msg.method()? {
        Method::Ack => Method::Invite,
        m => m,
    };
    match via.branch.as_deref() {
        Some(b) if b.starts_with("z9hG4bK") && b.len() > 7 => Some(format!(
            "{b}|{}:{}|{method}",
            via.host.to_ascii_lowercase(),
            via.port.unwrap_or(0)
        )),
        _ => {
            let (seq, _) = msg.cseq()?;
            let from_tag = msg.from_tag().unwrap_or_default();
            let ruri = if method == Method::Cancel || msg.method() == Some(Method::Ack) {
                ""
            } else {
                msg.request_uri().unwrap_or("")
            };
            Some(format!(
                "2543|{}|{from_tag}|{seq}|{}|{ruri}|{method}",
                msg.call_id()?,
                via.host
            ))
        }
    }
}

/// Client transaction key: top Via branch and CSeq method (RFC 3261 17.1.3).
fn client_key(msg: &Message) -> Option<String> {
    let branch = msg.top_via()?.branch?;
    let (_, method) = msg.cseq()?;
    Some(format!("{branch}|{method}"))
}

/// A random token for tags, branches and Call-IDs.
pub fn random_token() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..16)
        .map(|_| char::from(b"0123456789abcdefghijklmnopqrstuvwxyz"[rng.random_range(0..36)]))
        .collect()
}

/// Adds `;tag=` to the To header of a response.
pub fn add_to_tag(resp: &mut Message, tag: &str) {
    if let Some(h) = resp
        .headers
        .iter_mut()
        .find(|h| h.name.eq_ignore_ascii_case("To"))
    {
        h.value = format!("{};tag={tag}", h.value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn flow() -> Flow {
        Flow {
            transport: Transport::Udp,
            remote: "192.0.2.7:5099".parse().unwrap(),
            local: "192.0.2.1:5060".parse().unwrap(),
            conn: 0,
        }
    }

    fn drain(ep: &mut Endpoint) -> Vec<Output> {
        std::iter::from_fn(|| ep.poll_output()).collect()
    }

    const OPTIONS: &str = "OPTIONS sip:1@x SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bKa;rport\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:1@x>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n";

    #[test]
    fn new_request_reaches_tu_and_retransmission_is_absorbed() {
        let now = Instant::now();
        let mut ep = Endpoint::new(Timers::default(), false);
        ep.receive(OPTIONS.as_bytes(), flow(), now);
        let out = drain(&mut ep);
        let [Output::Event(Event::Request {
            tx: Some(tx), msg, ..
        })] = &out[..]
        else {
            panic!("{out:?}")
        };
        let via = msg.header("Via").unwrap();
        assert!(
            via.contains("rport=5099") && via.contains("received=192.0.2.7"),
            "{via}"
        );
        ep.respond(*tx, &Message::response_to(msg, 200, "OK"), now);
        let out = drain(&mut ep);
        let [Output::Transmit { flow: f, data }] = &out[..] else {
            panic!("{out:?}")
        };
        assert_eq!(f.remote, flow().remote, "rport answers to the source port");
        assert!(data.starts_with(b"SIP/2.0 200 OK"));
        ep.receive(OPTIONS.as_bytes(), flow(), now + Duration::from_millis(500));
        let out = drain(&mut ep);
        assert!(
            matches!(&out[..], [Output::Transmit { .. }]),
            "retransmission answered from the transaction: {out:?}"
        );
        ep.on_timer(now + Timers::default().long());
        assert_eq!(ep.transactions(), 0);
    }

    #[test]
    fn without_rport_answers_to_via_port() {
        let now = Instant::now();
        let mut ep = Endpoint::new(Timers::default(), false);
        ep.receive(OPTIONS.replace(";rport", "").as_bytes(), flow(), now);
        let Some(Output::Event(Event::Request {
            tx: Some(tx), msg, ..
        })) = ep.poll_output()
        else {
            panic!()
        };
        ep.respond(tx, &Message::response_to(&msg, 200, "OK"), now);
        let Some(Output::Transmit { flow: f, .. }) = ep.poll_output() else {
            panic!()
        };
        assert_eq!(
            f.remote,
            "192.0.2.7:5062".parse::<std::net::SocketAddr>().unwrap()
        );
    }

    #[test]
    fn malformed_request_gets_400_with_warning() {
        let mut ep = Endpoint::new(Timers::default(), true);
        ep.receive(
            OPTIONS
                .replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE")
                .as_bytes(),
            flow(),
            Instant::now(),
        );
        let out = drain(&mut ep);
        let [Output::Transmit { data, .. }] = &out[..] else {
            panic!("{out:?}")
        };
        let text = String::from_utf8_lossy(data);
        assert!(text.starts_with("SIP/2.0 400 Bad Request"), "{text}");
        assert!(text.contains("Warning: 399 mra \"CSeq method"), "{text}");
        assert_eq!(ep.stats.rejected_malformed, 1);
    }
}
