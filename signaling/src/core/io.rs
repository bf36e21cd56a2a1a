//! What goes into and out of the signaling core: its settings, the
//! driver's inputs and the outputs it must act on.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;
use media_api::{BoundStream, LegId, MediaEvent};
use meeting::{Refusal, Seat};

use super::room_policy::RoomPolicies;
use crate::controller::{Action, ControllerConfig};
use crate::h323::io::{H323Input, H323Output};
use crate::h323::ras::CallGrant;
use crate::ivr::IvrConfig;
use crate::sdp::{Codecs, Encryption};
use crate::sip::transaction::Timers;
use crate::sip::{Flow, Transport, TxId};

/// Settings of the core.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    pub timers: Timers,
    pub force_rport: bool,
    /// Address we put in Via, Contact, SDP and H.245 (NAT, a load
    /// balancer); None: the address each room reached us on.
    pub advertised: Option<IpAddr>,
    /// Our SIP port (UDP and TCP), in Via and Contact.
    pub sip_port: u16,
    /// Our SIP over TLS port, in Via and Contact of TLS flows.
    pub tls_port: u16,
    pub codecs: Codecs,
    pub ivr: IvrConfig,
    pub ivr_enabled: bool,
    /// Smallest session interval we accept (RFC 4028 Min-SE).
    pub min_se: u32,
    /// Whether calls are encrypted (`media.encryption`).
    pub encryption: Encryption,
}

impl CoreConfig {
    /// Our SIP address as the peer of `flow` must see it.
    pub fn us(&self, flow: &Flow) -> SocketAddr {
        let port = match flow.transport {
            Transport::Tls => self.tls_port,
            Transport::Udp | Transport::Tcp => self.sip_port,
        };
        SocketAddr::new(self.advertised.unwrap_or(flow.local.ip()), port)
    }

    /// An address we bound (media, H.245) as peers must see it.
    pub fn seen(&self, bound: SocketAddr) -> SocketAddr {
        SocketAddr::new(self.advertised.unwrap_or(bound.ip()), bound.port())
    }
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            timers: Timers::default(),
            force_rport: true,
            advertised: None,
            sip_port: 5060,
            tls_port: 5061,
            codecs: Codecs::all(4000),
            ivr: IvrConfig::default(),
            ivr_enabled: true,
            min_se: 90,
            encryption: Encryption::Optional,
        }
    }
}

/// What the driver feeds in.
#[derive(Debug)]
pub enum Input {
    Sip {
        data: Bytes,
        flow: Flow,
    },
    /// The answer to an [`Action::TakeSeat`]: the seat, why not, or why
    /// no decision could be made.
    Seat {
        leg: LegId,
        result: Result<Result<Seat, Refusal>, String>,
    },
    LegCreated {
        leg: LegId,
        result: Result<Vec<BoundStream>, String>,
    },
    Media(MediaEvent),
    /// The registrar's answer to an [`Output::Register`].
    Registered {
        tx: TxId,
        reply: registrar::RegisterReply,
    },
    /// Keepalive `id`: send OPTIONS to `target` over `flow`; answered by
    /// [`Output::ProbeResult`].
    Probe {
        id: u64,
        flow: Flow,
        target: String,
    },
    H323(H323Input),
    /// Room accounts' own settings, as they now stand.
    RoomPolicies(Arc<RoomPolicies>),
    /// What our gatekeeper granted an H.323 call.
    CallGrant(CallGrant),
    /// Stop: BYE every answered call, refuse the rest.
    Shutdown,
}

/// What the driver must do.
#[derive(Debug, PartialEq, Eq)]
pub enum Output {
    Transmit {
        flow: Flow,
        data: Bytes,
    },
    /// What the call controller asks of the meeting side (seats:
    /// answered with [`Input::Seat`]) and of media (legs: answered with
    /// [`Input::LegCreated`]).
    Control(Action),
    /// Keepalive `id` was answered (`alive`) or timed out.
    ProbeResult {
        id: u64,
        alive: bool,
    },
    /// Hand a REGISTER to the registrar; answer with [`Input::Registered`].
    Register {
        tx: TxId,
        request: registrar::RegisterRequest,
    },
    H323(H323Output),
}

impl CoreConfig {
    /// What the call controller needs of these settings.
    pub fn controller(&self) -> ControllerConfig {
        ControllerConfig {
            ivr: self.ivr,
            ivr_enabled: self.ivr_enabled,
            advertised: self.advertised,
        }
    }
}
