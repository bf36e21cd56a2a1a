//! What the core keeps of one H.323 call beside the common call state:
//! its call-signalling connection and H.225.0 state, what the Setup asked
//! for, the H.245 session and how H.245 travels (tunnelled in call
//! signalling, or on a connection of its own that we accept or open).

use std::net::SocketAddr;

use super::channel_media::ChannelMedia;
use super::h225_call::{H225Call, IncomingSetup};
use super::h245::H245Session;
use crate::call::LocalMedia;

/// How H.245 reaches the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum H245Link {
    /// Inside call-signalling messages (h245Tunnelling).
    Tunnel,
    /// We listen for the room's connection (at the address, once bound).
    Listening(Option<SocketAddr>),
    /// We connect to the room's h245Address.
    Dialing,
    /// The separate connection is up.
    Up,
}

#[derive(Debug)]
pub struct H323Leg {
    /// The call-signalling connection.
    pub conn: u64,
    pub signalling: H225Call,
    pub setup: IncomingSetup,
    pub link: H245Link,
    /// Created once our media address is known.
    pub h245: Option<H245Session>,
    /// H.245 that arrived before the session (tunnelled in the Setup).
    pub early_h245: Vec<Vec<u8>>,
    /// Connect sent.
    pub connected: bool,
    /// Our TerminalCapabilitySet and MSD sent.
    pub h245_started: bool,
    /// Media agreed with the room so far (fast start, its channels).
    pub channels: ChannelMedia,
    /// Our media leg's addresses, once bound (a call-out's Setup waits
    /// for them).
    pub local_media: Option<LocalMedia>,
    /// What our Connect names as the called party (the meeting).
    pub shown_as: String,
    /// The room account's own call rate, kbit/s.
    pub call_rate_kbps: Option<u32>,
}

impl H323Leg {
    pub fn new(conn: u64, signalling: H225Call, setup: IncomingSetup) -> H323Leg {
        let link = match (setup.h245_tunnelling, setup.h245_address) {
            (true, _) => H245Link::Tunnel,
            (false, Some(_)) => H245Link::Dialing,
            (false, None) => H245Link::Listening(None),
        };
        H323Leg {
            conn,
            signalling,
            setup,
            link,
            h245: None,
            early_h245: Vec::new(),
            connected: false,
            h245_started: false,
            channels: ChannelMedia::default(),
            local_media: None,
            shown_as: "MRA".into(),
            call_rate_kbps: None,
        }
    }

    /// Whether H.245 can be sent now.
    pub fn h245_open(&self) -> bool {
        matches!(self.link, H245Link::Tunnel | H245Link::Up)
    }
}
