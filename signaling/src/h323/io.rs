//! What the H.323 connections (the driver's side: call-signalling and
//! H.245 TCP connections) and the core tell each other.

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use media_api::LegId;

/// What the driver feeds in for H.323.
#[derive(Debug)]
pub enum H323Input {
    /// One Q.931 message (TPKT already removed) on call-signalling
    /// connection `conn` from `remote` to our `local` address.
    CallSignalling {
        conn: u64,
        remote: SocketAddr,
        local: SocketAddr,
        data: Bytes,
    },
    CallSignallingClosed {
        conn: u64,
    },
    /// The connection we opened to call a room is up as `conn`.
    CallSignallingConnected {
        leg: LegId,
        conn: u64,
    },
    /// It could not be opened.
    DialFailed {
        leg: LegId,
    },
    /// Our H.245 listener for `leg` is bound (or could not be).
    H245Listening {
        leg: LegId,
        result: Result<SocketAddr, String>,
    },
    /// The separate H.245 connection of `leg` is up.
    H245Connected {
        leg: LegId,
    },
    /// One H.245 message on that connection.
    H245 {
        leg: LegId,
        data: Bytes,
    },
    /// That connection closed or could not be made.
    H245Closed {
        leg: LegId,
    },
}

/// What the driver must do for H.323.
#[derive(Debug, PartialEq, Eq)]
pub enum H323Output {
    /// Send a Q.931 message (the driver frames it in TPKT).
    CallSignalling {
        conn: u64,
        data: Bytes,
    },
    CloseCallSignalling {
        conn: u64,
    },
    /// Open a call-signalling connection to a room we call; answer with
    /// [`H323Input::CallSignallingConnected`] or [`H323Input::DialFailed`].
    ConnectCallSignalling {
        leg: LegId,
        to: SocketAddr,
    },
    /// Listen on `ip` for the room's H.245 connection; answer with
    /// [`H323Input::H245Listening`], then [`H323Input::H245Connected`].
    ListenH245 {
        leg: LegId,
        ip: IpAddr,
    },
    /// Connect to the room's H.245 address.
    ConnectH245 {
        leg: LegId,
        to: SocketAddr,
    },
    /// Send an H.245 message on the separate connection.
    H245 {
        leg: LegId,
        data: Bytes,
    },
    CloseH245 {
        leg: LegId,
    },
}
