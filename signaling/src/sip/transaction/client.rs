//! Client transactions: INVITE (Calling → Proceeding → Accepted | Completed)
//! and non-INVITE (Trying → Proceeding → Completed).

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Timers, TxOutput};
use crate::sip::{Message, Method};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Calling,
    Proceeding,
    Accepted,
    Completed,
    Terminated,
}

/// One client transaction.
#[derive(Debug)]
pub struct ClientTx {
    request: Message,
    bytes: Bytes,
    invite: bool,
    reliable: bool,
    timers: Timers,
    state: State,
    /// Timer A or E and its current interval.
    retransmit: Option<(Instant, Duration)>,
    /// Timer B, D, F, K or M.
    end: Option<Instant>,
    ack: Option<Bytes>,
}

impl ClientTx {
    /// Starts the transaction: the request is sent at once.
    pub fn start(
        request: Message,
        reliable: bool,
        timers: Timers,
        now: Instant,
        out: &mut Vec<TxOutput>,
    ) -> ClientTx {
        let bytes = request.to_bytes();
        out.push(TxOutput::Send(bytes.clone()));
        ClientTx {
            invite: request.method() == Some(Method::Invite),
            request,
            bytes,
            reliable,
            timers,
            state: State::Calling,
            retransmit: (!reliable).then(|| (now + timers.t1, timers.t1)),
            end: Some(now + timers.long()),
            ack: None,
        }
    }

    pub fn request(&self) -> &Message {
        &self.request
    }

    pub fn is_terminated(&self) -> bool {
        self.state == State::Terminated
    }

    pub fn on_response(&mut self, resp: &Message, now: Instant, out: &mut Vec<TxOutput>) {
        let code = resp.status().unwrap_or(500);
        match self.state {
            State::Calling | State::Proceeding => {}
            State::Accepted if (200..300).contains(&code) => {
                out.push(TxOutput::Deliver(resp.clone()));
                return;
            }
            State::Completed => {
                if let Some(ack) = &self.ack {
                    out.push(TxOutput::Send(ack.clone()));
                }
                return;
            }
            _ => return,
        }
        out.push(TxOutput::Deliver(resp.clone()));
        if code < 200 {
            self.state = State::Proceeding;
            if !self.invite && !self.reliable {
                self.retransmit = Some((now + self.timers.t2, self.timers.t2));
            } else if self.invite {
                self.retransmit = None;
            }
            return;
        }
        self.retransmit = None;
        if self.invite && code < 300 {
            self.state = State::Accepted;
            self.end = Some(now + self.timers.long());
        } else if self.invite {
            let ack = self.ack_for(resp).to_bytes();
            out.push(TxOutput::Send(ack.clone()));
            self.ack = Some(ack);
            self.state = State::Completed;
            self.end = Some(
                now + if self.reliable {
                    Duration::ZERO
                } else {
                    Duration::from_secs(32)
                },
            );
        } else {
            self.state = State::Completed;
            self.end = Some(
                now + if self.reliable {
                    Duration::ZERO
                } else {
                    self.timers.t4
                },
            );
        }
    }

    /// ACK for a non-2xx final response (RFC 3261 17.1.1.3).
    fn ack_for(&self, resp: &Message) -> Message {
        let uri = self.request.request_uri().unwrap_or_default();
        let mut ack = Message::request(Method::Ack, uri);
        if let Some(via) = self.request.header("Via") {
            ack.push("Via", via);
        }
        for name in ["Route", "From"] {
            for v in self.request.all(name) {
                ack.push(name, v);
            }
        }
        ack.push("To", resp.header("To").unwrap_or_default());
        ack.push("Call-ID", self.request.call_id().unwrap_or_default());
        let seq = self.request.cseq().map(|c| c.0).unwrap_or(1);
        ack.push("CSeq", format!("{seq} ACK"));
        ack.push("Max-Forwards", "70");
        ack
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        match (self.retransmit.map(|r| r.0), self.end) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn on_timer(&mut self, now: Instant, out: &mut Vec<TxOutput>) {
        if self.end.is_some_and(|e| e <= now) {
            if matches!(self.state, State::Calling | State::Proceeding) {
                out.push(TxOutput::Timeout);
            }
            self.state = State::Terminated;
            self.retransmit = None;
            self.end = None;
            return;
        }
        if let Some((_, interval)) = self.retransmit.filter(|r| r.0 <= now) {
            out.push(TxOutput::Send(self.bytes.clone()));
            let next = if self.invite {
                interval * 2
            } else {
                (interval * 2).min(self.timers.t2)
            };
            self.retransmit = Some((now + next, next));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::lexer::lex;

    fn msg(raw: &str) -> Message {
        lex(raw.replace('\n', "\r\n").as_bytes()).unwrap().message
    }

    const HEAD: &str = "Via: SIP/2.0/UDP h;branch=z9hG4bK9\nFrom: <sip:a@b>;tag=1\nTo: <sip:1@x>;tag=2\nCall-ID: c\n";

    #[test]
    fn bye_retransmits_with_timer_e_and_times_out_with_timer_f() {
        let t = Timers::default();
        let t0 = Instant::now();
        let mut out = Vec::new();
        let mut tx = ClientTx::start(
            msg(&format!("BYE sip:a@b SIP/2.0\n{HEAD}CSeq: 2 BYE\n\n")),
            false,
            t,
            t0,
            &mut out,
        );
        assert_eq!(out.len(), 1);
        let mut at = t0;
        let mut sent = 0;
        while let Some(d) = tx.next_deadline() {
            at = d;
            out.clear();
            tx.on_timer(at, &mut out);
            sent += out
                .iter()
                .filter(|o| matches!(o, TxOutput::Send(_)))
                .count();
            if out.contains(&TxOutput::Timeout) {
                break;
            }
        }
        assert_eq!(at, t0 + t.long(), "Timer F fires at 64*T1");
        // E: 0.5, 1.5, 3.5, 7.5, then every 4 s up to 32 s => 4 + 6 retransmissions.
        assert_eq!(sent, 10);
        assert!(tx.is_terminated());
    }

    #[test]
    fn invite_error_is_acked_by_the_transaction() {
        let t0 = Instant::now();
        let mut out = Vec::new();
        let mut tx = ClientTx::start(
            msg(&format!("INVITE sip:a@b SIP/2.0\n{HEAD}CSeq: 5 INVITE\n\n")),
            false,
            Timers::default(),
            t0,
            &mut out,
        );
        out.clear();
        let resp = msg(&format!("SIP/2.0 486 Busy Here\n{HEAD}CSeq: 5 INVITE\n\n"));
        tx.on_response(&resp, t0, &mut out);
        assert!(matches!(&out[0], TxOutput::Deliver(_)));
        let TxOutput::Send(ack) = &out[1] else {
            panic!("ACK expected")
        };
        let ack = lex(ack).unwrap().message;
        assert_eq!(ack.cseq(), Some((5, Method::Ack)));
        assert_eq!(ack.to_tag().as_deref(), Some("2"));
        out.clear();
        tx.on_response(&resp, t0, &mut out);
        assert!(
            matches!(&out[..], [TxOutput::Send(_)]),
            "retransmitted final response is ACKed again, not delivered"
        );
    }

    #[test]
    fn invite_2xx_goes_to_tu_including_retransmissions() {
        let t0 = Instant::now();
        let mut out = Vec::new();
        let mut tx = ClientTx::start(
            msg(&format!("INVITE sip:a@b SIP/2.0\n{HEAD}CSeq: 5 INVITE\n\n")),
            true,
            Timers::default(),
            t0,
            &mut out,
        );
        let ok = msg(&format!("SIP/2.0 200 OK\n{HEAD}CSeq: 5 INVITE\n\n"));
        for _ in 0..2 {
            out.clear();
            tx.on_response(&ok, t0, &mut out);
            assert!(matches!(&out[..], [TxOutput::Deliver(_)]));
        }
        out.clear();
        tx.on_timer(t0 + Timers::default().long(), &mut out);
        assert!(out.is_empty() && tx.is_terminated());
    }
}
