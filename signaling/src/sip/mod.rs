//! SIP protocol layers, all sans-IO: lexing and validation of wire bytes,
//! TCP stream framing, transactions, and the [`Endpoint`] that routes
//! messages between the wire, transactions and the transaction user.

pub mod dialog;
pub mod endpoint;
pub mod framing;
pub mod lexer;
pub mod message;
mod method;
pub mod release;
pub mod transaction;
pub mod validate;

pub use endpoint::{Endpoint, EndpointStats, Event, Flow, Transport, TxId};
pub use message::{Message, StartLine};
pub use method::Method;
