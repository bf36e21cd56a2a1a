//! Server transactions: INVITE (Proceeding → Accepted | Completed →
//! Confirmed) and non-INVITE (Trying → Proceeding → Completed).

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Timers, TxOutput};
use crate::sip::{Message, Method};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Trying,
    Proceeding,
    Accepted,
    Completed,
    Confirmed,
    Terminated,
}

/// One server transaction.
#[derive(Debug)]
pub struct ServerTx {
    invite: bool,
    reliable: bool,
    timers: Timers,
    state: State,
    last_response: Option<Bytes>,
    /// Timer G (response retransmission) and its current interval.
    retransmit: Option<(Instant, Duration)>,
    /// Timer H, I, J or L: when the current state ends.
    end: Option<Instant>,
}

impl ServerTx {
    /// Creates the transaction for a request just received.
    pub fn new(method: &Method, reliable: bool, timers: Timers) -> ServerTx {
        let invite = *method == Method::Invite;
        ServerTx {
            invite,
            reliable,
            timers,
            state: if invite {
                State::Proceeding
            } else {
                State::Trying
            },
            last_response: None,
            retransmit: None,
            end: None,
        }
    }

    pub fn is_terminated(&self) -> bool {
        self.state == State::Terminated
    }

    /// Whether a final response was sent.
    pub fn is_final(&self) -> bool {
        !matches!(self.state, State::Trying | State::Proceeding)
    }

    /// A retransmission of the request, or an ACK for a non-2xx final response.
    pub fn on_request(&mut self, req: &Message, now: Instant, out: &mut Vec<TxOutput>) {
        if req.method() == Some(Method::Ack) {
            if self.state == State::Completed {
                self.state = State::Confirmed;
                self.retransmit = None;
                self.end = Some(
                    now + if self.reliable {
                        Duration::ZERO
                    } else {
                        self.timers.t4
                    },
                );
            }
            return;
        }
        let resend = match self.state {
            State::Proceeding | State::Completed => true,
            State::Trying | State::Accepted | State::Confirmed | State::Terminated => false,
        };
        if resend {
            if let Some(r) = &self.last_response {
                out.push(TxOutput::Send(r.clone()));
            }
        }
    }

    /// The TU sends a response through this transaction.
    pub fn respond(&mut self, resp: &Message, now: Instant, out: &mut Vec<TxOutput>) {
        let code = resp.status().unwrap_or(500);
        let bytes = resp.to_bytes();
        match self.state {
            State::Trying | State::Proceeding => {}
            State::Accepted if (200..300).contains(&code) => {}
            _ => return,
        }
        out.push(TxOutput::Send(bytes.clone()));
        self.last_response = Some(bytes);
        if code < 200 {
            self.state = State::Proceeding;
        } else if self.invite && code < 300 {
            self.state = State::Accepted;
            self.end = Some(now + self.timers.long());
        } else if self.invite {
            self.state = State::Completed;
            self.end = Some(now + self.timers.long());
            if !self.reliable {
                self.retransmit = Some((now + self.timers.t1, self.timers.t1));
            }
        } else {
            self.state = State::Completed;
            self.end = Some(
                now + if self.reliable {
                    Duration::ZERO
                } else {
                    self.timers.long()
                },
            );
        }
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        match (self.retransmit.map(|r| r.0), self.end) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn on_timer(&mut self, now: Instant, out: &mut Vec<TxOutput>) {
        if let Some(end) = self.end.filter(|e| *e <= now) {
            let _ = end;
            if self.state == State::Completed && self.invite {
                out.push(TxOutput::Timeout);
            }
            self.state = State::Terminated;
            self.retransmit = None;
            self.end = None;
            return;
        }
        if let Some((at, interval)) = self.retransmit.filter(|r| r.0 <= now) {
            let _ = at;
            if let Some(r) = &self.last_response {
                out.push(TxOutput::Send(r.clone()));
            }
            let next = (interval * 2).min(self.timers.t2);
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

    fn invite() -> Message {
        msg("INVITE sip:1@x SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nFrom: <sip:a@b>;tag=1\nTo: <sip:1@x>\nCall-ID: c\nCSeq: 1 INVITE\n\n")
    }

    fn sends(out: &[TxOutput]) -> usize {
        out.iter()
            .filter(|o| matches!(o, TxOutput::Send(_)))
            .count()
    }

    #[test]
    fn invite_error_response_retransmits_until_ack_then_absorbs() {
        let t = Timers::default();
        let t0 = Instant::now();
        let req = invite();
        let mut tx = ServerTx::new(&Method::Invite, false, t);
        let mut out = Vec::new();
        tx.respond(&Message::response_to(&req, 486, "Busy Here"), t0, &mut out);
        assert_eq!(sends(&out), 1);
        // Timer G: 500 ms, 1 s, 2 s, then capped at T2 = 4 s.
        let mut at = t0;
        for expected in [500, 1000, 2000, 4000, 4000] {
            out.clear();
            at += Duration::from_millis(expected);
            assert_eq!(tx.next_deadline(), Some(at));
            tx.on_timer(at, &mut out);
            assert_eq!(sends(&out), 1, "retransmission at +{expected}ms");
        }
        out.clear();
        tx.on_request(&msg("ACK sip:1@x SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nFrom: <sip:a@b>;tag=1\nTo: <sip:1@x>;tag=2\nCall-ID: c\nCSeq: 1 ACK\n\n"), at, &mut out);
        assert!(out.is_empty());
        assert_eq!(tx.next_deadline(), Some(at + t.t4));
        tx.on_timer(at + t.t4, &mut out);
        assert!(tx.is_terminated());
        assert!(out.is_empty());
    }

    #[test]
    fn invite_without_ack_times_out_after_64_t1() {
        let t = Timers::default();
        let t0 = Instant::now();
        let mut tx = ServerTx::new(&Method::Invite, true, t);
        let mut out = Vec::new();
        tx.respond(
            &Message::response_to(&invite(), 404, "Not Found"),
            t0,
            &mut out,
        );
        assert_eq!(
            tx.next_deadline(),
            Some(t0 + t.long()),
            "no Timer G over TCP"
        );
        out.clear();
        tx.on_timer(t0 + t.long(), &mut out);
        assert_eq!(out, vec![TxOutput::Timeout]);
        assert!(tx.is_terminated());
    }

    #[test]
    fn retransmitted_request_gets_last_response() {
        let t0 = Instant::now();
        let req = invite();
        let mut tx = ServerTx::new(&Method::Invite, false, Timers::default());
        let mut out = Vec::new();
        tx.on_request(&req, t0, &mut out);
        assert!(out.is_empty(), "nothing sent yet");
        tx.respond(&Message::response_to(&req, 100, "Trying"), t0, &mut out);
        out.clear();
        tx.on_request(&req, t0, &mut out);
        assert_eq!(sends(&out), 1);
        tx.respond(&Message::response_to(&req, 200, "OK"), t0, &mut out);
        out.clear();
        tx.on_request(&req, t0, &mut out);
        assert!(
            out.is_empty(),
            "Accepted absorbs retransmitted INVITEs; the TU resends 2xx"
        );
        tx.on_timer(t0 + Timers::default().long(), &mut out);
        assert!(tx.is_terminated());
    }

    #[test]
    fn non_invite_completed_lingers_for_timer_j_over_udp_only() {
        let t0 = Instant::now();
        let req = msg("OPTIONS sip:1@x SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK2\nFrom: <sip:a@b>;tag=1\nTo: <sip:1@x>\nCall-ID: c\nCSeq: 1 OPTIONS\n\n");
        for (reliable, linger) in [(false, Timers::default().long()), (true, Duration::ZERO)] {
            let mut tx = ServerTx::new(&Method::Options, reliable, Timers::default());
            let mut out = Vec::new();
            tx.respond(&Message::response_to(&req, 200, "OK"), t0, &mut out);
            out.clear();
            tx.on_request(&req, t0, &mut out);
            assert_eq!(sends(&out), 1);
            assert_eq!(tx.next_deadline(), Some(t0 + linger));
        }
    }
}
