//! RFC 3261 section 17 transactions (with the RFC 6026 Accepted state), as
//! sans-IO state machines: fed messages, TU responses and `now`, they push
//! [`TxOutput`]s and expose their next deadline.

mod client;
mod server;

pub use client::ClientTx;
pub use server::ServerTx;

use std::time::Duration;

use bytes::Bytes;

use super::Message;

/// Timer base values (RFC 3261 table 4).
#[derive(Debug, Clone, Copy)]
pub struct Timers {
    pub t1: Duration,
    pub t2: Duration,
    pub t4: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

impl Timers {
    /// 64*T1: Timers B, F, H, J, L, M.
    pub fn long(&self) -> Duration {
        self.t1 * 64
    }
}

/// What a transaction asks of its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxOutput {
    /// Put these bytes on the transaction's flow.
    Send(Bytes),
    /// Pass this message up to the transaction user.
    Deliver(Message),
    /// No final response (client) or no ACK (server) in time.
    Timeout,
}
