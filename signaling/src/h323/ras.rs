//! The RAS gatekeeper (H.225.0 clause 7, UDP 1719): discovery (GRQ),
//! registration (RRQ, lightweight RRQ, URQ) through the registrar's store,
//! admission (ARQ, direct-routed to our call-signalling address, within
//! the call rate: see [`bandwidth`]), disengage (DRQ), bandwidth (BRQ),
//! location of meetings and registered rooms (LRQ), and unsolicited IRRs. Every request gets its confirm or a
//! reject with the reason; a datagram that does not decode gets an
//! unknownMessageResponse. Requests of rooms are held to H.235.1 (see
//! [`security`]). Fed a datagram and `now`, returns the answer and where
//! it goes; the socket lives in the driver.

mod bandwidth;
mod security;

pub use bandwidth::CallGrant;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use h323_asn1::h225::{
    AdmissionConfirm, AdmissionReject, AdmissionRejectReason, AdmissionRequest, BandWidth,
    CallModel, DisengageConfirm, EndpointIdentifier, GatekeeperConfirm, GatekeeperIdentifier,
    GatekeeperReject, GatekeeperRejectReason, GatekeeperRequest, InfoRequestAck, LocationConfirm,
    LocationReject, LocationRejectReason, LocationRequest, RasMessage, RegistrationConfirm,
    RegistrationReject, RegistrationRejectReason, RegistrationRequest, RequestSeqNum, TimeToLive,
    UUIEsRequested, UnknownMessageResponse, UnregRejectReason, UnregistrationConfirm,
    UnregistrationReject, UnregistrationRequest,
};
use h323_asn1::h235::AuthenticationMechanism;
use h323_asn1::rasn::types::OctetString;
use registrar::h323::{H323Refusal, H323Registration};
use registrar::Registrar;
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::address::{
    alias_text, bmp, first_socket_addr, protocol_identifier, socket_addr, text, transport,
    vendor_text,
};
use super::h225_call::call_identity;
use super::h235::{self, Replays};

#[derive(Debug, Clone)]
pub struct GatekeeperConfig {
    /// Our gatekeeper identifier (GRQs naming another one are refused).
    pub id: String,
    /// Where endpoints send RAS and call signalling (advertised
    /// addresses); an unspecified IP stands for the address each request
    /// was sent to.
    pub ras: SocketAddr,
    pub call_signal: SocketAddr,
    /// Longest registration life granted, seconds (and the default).
    pub time_to_live: u32,
    /// Requests of rooms must carry an H.235.1 token (else a token is
    /// checked only when present).
    pub require_h235: bool,
    /// Largest difference between a token's timestamp and our clock,
    /// seconds.
    pub h235_clock_skew: u32,
    /// The most a call may use, kbit/s each way (a room account's own
    /// rate may lower it).
    pub max_call_rate_kbps: u32,
}

/// Counters for /metrics.
#[derive(Debug, Default)]
pub struct RasStats {
    pub requests: AtomicU64,
    pub rejects: AtomicU64,
    pub malformed: AtomicU64,
    /// Requests refused by H.235 (no token, bad hash, replay, clock).
    pub security_denials: AtomicU64,
}

pub struct Gatekeeper {
    cfg: GatekeeperConfig,
    registrar: Arc<Registrar>,
    replays: Mutex<Replays>,
    /// Where calls' bandwidth grants go (the call core).
    grants: Option<mpsc::UnboundedSender<CallGrant>>,
    pub stats: RasStats,
}

/// Our RAS and call-signalling addresses as the endpoint of one request
/// must see them.
struct Here {
    ras: SocketAddr,
    call_signal: SocketAddr,
}

/// `configured`, or, when its IP is unspecified, `local` with its port.
fn at(configured: SocketAddr, local: IpAddr) -> SocketAddr {
    if configured.ip().is_unspecified() {
        SocketAddr::new(local, configured.port())
    } else {
        configured
    }
}

/// The shortest registration life granted, seconds.
const MIN_TIME_TO_LIVE: u32 = 30;

impl Gatekeeper {
    pub fn new(cfg: GatekeeperConfig, registrar: Arc<Registrar>) -> Gatekeeper {
        Gatekeeper {
            cfg,
            registrar,
            replays: Mutex::default(),
            grants: None,
            stats: RasStats::default(),
        }
    }

    /// Tells `grants` what each call is granted (ARQ, BRQ) and when it
    /// disengages (DRQ).
    pub fn with_grants(mut self, grants: mpsc::UnboundedSender<CallGrant>) -> Gatekeeper {
        self.grants = Some(grants);
        self
    }

    /// Answers one datagram from `from`, sent to our address `local`, at
    /// `now` (unix seconds): the encoded reply and where to send it.
    pub async fn handle(
        &self,
        datagram: &[u8],
        from: SocketAddr,
        local: IpAddr,
        now: u64,
    ) -> Option<(Vec<u8>, SocketAddr)> {
        let here = Here {
            ras: at(self.cfg.ras, local),
            call_signal: at(self.cfg.call_signal, local),
        };
        let message: RasMessage = match h323_asn1::decode(datagram) {
            Ok(m) => m,
            Err(e) => {
                self.stats.malformed.fetch_add(1, Ordering::Relaxed);
                warn!(%from, "undecodable RAS message: {e}");
                let reply = not_understood(RequestSeqNum(1), datagram);
                return Some((self.encode_signed(reply, None, now)?, from));
            }
        };
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let signer = match self.authenticate(&message, datagram, from, now).await {
            Ok(signer) => signer,
            Err(denial) => {
                self.stats.rejects.fetch_add(1, Ordering::Relaxed);
                return Some((self.encode_signed(denial?, None, now)?, from));
            }
        };
        let (reply, to) = match message {
            RasMessage::gatekeeperRequest(r) => (self.discovery(&r, &here), from),
            RasMessage::registrationRequest(r) => {
                (self.registration(&r, from, &here, now).await, from)
            }
            RasMessage::unregistrationRequest(r) => (self.unregistration(&r, now).await, from),
            RasMessage::admissionRequest(r) => (self.admission(&r, &here, now).await, from),
            RasMessage::disengageRequest(r) => {
                self.grant(
                    call_identity(r.call_identifier.as_ref(), Some(&r.conference_id)),
                    0,
                );
                (
                    RasMessage::disengageConfirm(DisengageConfirm::required(r.request_seq_num)),
                    from,
                )
            }
            RasMessage::bandwidthRequest(r) => (self.bandwidth(&r).await, from),
            RasMessage::locationRequest(r) => {
                let to = socket_addr(&r.reply_address).unwrap_or(from);
                (self.location(&r, &here, now).await, to)
            }
            RasMessage::infoRequestResponse(r) if r.need_response == Some(true) => (
                RasMessage::infoRequestAck(InfoRequestAck::required(r.request_seq_num)),
                from,
            ),
            RasMessage::infoRequestResponse(_) => return None,
            other => match request_seq_num(&other) {
                // A request we do not serve.
                Some(seq) => (not_understood(seq, datagram), from),
                // Confirms, rejects and indications need no answer.
                None => return None,
            },
        };
        if is_reject(&reply) {
            self.stats.rejects.fetch_add(1, Ordering::Relaxed);
        }
        Some((self.encode_signed(reply, signer.as_ref(), now)?, to))
    }

    fn gatekeeper_id(&self) -> GatekeeperIdentifier {
        GatekeeperIdentifier(bmp(&self.cfg.id))
    }

    fn names_another_gatekeeper(&self, id: &Option<GatekeeperIdentifier>) -> bool {
        id.as_ref().is_some_and(|id| text(&id.0) != self.cfg.id)
    }

    /// Confirms discovery, agreeing to H.235.1 when the endpoint offers
    /// it; an endpoint that offers only other security while we require
    /// ours is told so at once.
    fn discovery(&self, r: &GatekeeperRequest, here: &Here) -> RasMessage {
        let h235 = h235::negotiated(r.algorithm_oids.as_deref().unwrap_or_default()).filter(|_| {
            r.authentication_capability
                .iter()
                .flatten()
                .any(|m| *m == AuthenticationMechanism::pwdHash(()))
        });
        let offers_other = r
            .authentication_capability
            .as_ref()
            .is_some_and(|c| !c.is_empty());
        let reason = if self.names_another_gatekeeper(&r.gatekeeper_identifier) {
            Some(GatekeeperRejectReason::terminalExcluded(()))
        } else if self.cfg.require_h235 && offers_other && h235.is_none() {
            Some(GatekeeperRejectReason::securityDenial(()))
        } else {
            None
        };
        if let Some(reason) = reason {
            return RasMessage::gatekeeperReject(
                GatekeeperReject::required(
                    r.request_seq_num.clone(),
                    protocol_identifier(),
                    reason,
                )
                .with_gatekeeper_identifier(self.gatekeeper_id()),
            );
        }
        let mode = h235
            .is_some()
            .then_some(AuthenticationMechanism::pwdHash(()));
        RasMessage::gatekeeperConfirm(
            GatekeeperConfirm::required(
                r.request_seq_num.clone(),
                protocol_identifier(),
                transport(here.ras),
            )
            .with_gatekeeper_identifier(self.gatekeeper_id())
            .with_authentication_mode(mode)
            .with_algorithm_oid(h235),
        )
    }

    async fn registration(
        &self,
        r: &RegistrationRequest,
        from: SocketAddr,
        here: &Here,
        now: u64,
    ) -> RasMessage {
        let seq = r.request_seq_num.clone();
        let reject = |reason| registration_reject(seq.clone(), reason);
        if self.names_another_gatekeeper(&r.gatekeeper_identifier) {
            return reject(RegistrationRejectReason::undefinedReason(()));
        }
        let ttl = r
            .time_to_live
            .as_ref()
            .map_or(self.cfg.time_to_live, |t| t.0)
            .clamp(
                MIN_TIME_TO_LIVE,
                self.cfg.time_to_live.max(MIN_TIME_TO_LIVE),
            );
        let result = if r.keep_alive == Some(true) {
            let Some(id) = &r.endpoint_identifier else {
                return reject(RegistrationRejectReason::fullRegistrationRequired(()));
            };
            self.registrar.refresh_h323(&text(&id.0), ttl, now).await
        } else {
            let Some(call_signal) = first_socket_addr(&r.call_signal_address) else {
                return reject(RegistrationRejectReason::invalidCallSignalAddress(()));
            };
            if first_socket_addr(&r.ras_address).is_none() {
                return reject(RegistrationRejectReason::invalidRASAddress(()));
            }
            let account = match self.registrar.h323_account(&terminal_aliases(r)).await {
                Ok(account) => account,
                Err(e) => return self.registration_refused(seq.clone(), e),
            };
            let request = H323Registration {
                call_signal,
                // Behind NAT, where the request came from is what works.
                ras: from,
                time_to_live: ttl,
                vendor: vendor_text(&r.endpoint_vendor),
                tag: rand::random(),
            };
            self.registrar.register_h323(&account, &request, now).await
        };
        let endpoint = match result {
            Ok(e) => e,
            Err(e) => return self.registration_refused(seq.clone(), e),
        };
        if r.keep_alive != Some(true) {
            info!(user = %endpoint.user, endpoint = %endpoint.endpoint_id, "RRQ confirmed");
        }
        RasMessage::registrationConfirm(
            RegistrationConfirm::required(
                seq,
                protocol_identifier(),
                vec![transport(here.call_signal)],
                EndpointIdentifier(bmp(&endpoint.endpoint_id)),
            )
            .with_terminal_alias(r.terminal_alias.clone())
            .with_gatekeeper_identifier(self.gatekeeper_id())
            .with_time_to_live(TimeToLive(ttl))
            .with_will_respond_to_irr(false)
            .with_maintain_connection(false),
        )
    }

    fn registration_refused(&self, seq: RequestSeqNum, e: H323Refusal) -> RasMessage {
        registration_reject(
            seq,
            match e {
                H323Refusal::UnknownAlias => RegistrationRejectReason::invalidAlias(()),
                H323Refusal::NotRegistered => {
                    RegistrationRejectReason::fullRegistrationRequired(())
                }
                H323Refusal::Store(e) => {
                    warn!("H.323 registration: {e}");
                    RegistrationRejectReason::resourceUnavailable(())
                }
            },
        )
    }

    /// The endpoint identifier a URQ is about.
    async fn unregistering(&self, r: &UnregistrationRequest, now: u64) -> Option<String> {
        match &r.endpoint_identifier {
            Some(id) => Some(text(&id.0)),
            // Without an identifier, the call-signalling address says who.
            None => self
                .registrar
                .h323_endpoints(now)
                .await
                .unwrap_or_default()
                .into_iter()
                .find(|e| first_socket_addr(&r.call_signal_address) == Some(e.call_signal))
                .map(|e| e.endpoint_id),
        }
    }

    async fn unregistration(&self, r: &UnregistrationRequest, now: u64) -> RasMessage {
        let done = match self.unregistering(r, now).await {
            Some(id) => self.registrar.unregister_h323(&id, now).await.is_ok(),
            None => false,
        };
        if done {
            RasMessage::unregistrationConfirm(UnregistrationConfirm::required(
                r.request_seq_num.clone(),
            ))
        } else {
            unregistration_reject(
                r.request_seq_num.clone(),
                UnregRejectReason::notCurrentlyRegistered(()),
            )
        }
    }

    async fn admission(&self, r: &AdmissionRequest, here: &Here, now: u64) -> RasMessage {
        let id = text(&r.endpoint_identifier.0);
        let endpoint = match self.registrar.h323_endpoint(&id, now).await {
            Ok(e) => e,
            Err(_) => {
                return admission_reject(
                    r.request_seq_num.clone(),
                    AdmissionRejectReason::callerNotRegistered(()),
                )
            }
        };
        // Calls to us go to our call-signalling address; a call we place
        // to the room is answered at its own.
        let destination = if r.answer_call {
            endpoint.call_signal
        } else {
            here.call_signal
        };
        let granted = r
            .band_width
            .0
            .min(self.allowed(&r.endpoint_identifier).await);
        self.grant(
            call_identity(r.call_identifier.as_ref(), Some(&r.conference_id)),
            granted,
        );
        RasMessage::admissionConfirm(
            AdmissionConfirm::required(
                r.request_seq_num.clone(),
                BandWidth(granted),
                CallModel::direct(()),
                transport(destination),
            )
            .with_destination_info(r.destination_info.clone())
            .with_will_respond_to_irr(false)
            .with_uuies_requested(
                UUIEsRequested::required(
                    false, false, false, false, false, false, false, false, false,
                )
                .with_status(false)
                .with_status_inquiry(false)
                .with_setup_acknowledge(false)
                .with_notify(false),
            ),
        )
    }

    /// Meetings (aliases that are dial strings with a number) are here;
    /// so are registered rooms.
    async fn location(&self, r: &LocationRequest, here: &Here, now: u64) -> RasMessage {
        let aliases: Vec<String> = r.destination_info.iter().filter_map(alias_text).collect();
        let meeting = aliases.iter().any(|a| {
            a.bytes().next().is_some_and(|b| b.is_ascii_digit())
                && crate::dialstring::parse(a).number.is_some()
        });
        let found = if meeting {
            Some(here.call_signal)
        } else {
            let rooms = self.registrar.h323_endpoints(now).await.unwrap_or_default();
            rooms
                .into_iter()
                .find(|e| aliases.contains(&e.user))
                .map(|e| e.call_signal)
        };
        match found {
            Some(call_signal) => RasMessage::locationConfirm(
                LocationConfirm::required(
                    r.request_seq_num.clone(),
                    transport(call_signal),
                    transport(here.ras),
                )
                .with_destination_info(r.destination_info.clone())
                .with_multiple_calls(false),
            ),
            None => RasMessage::locationReject(LocationReject::required(
                r.request_seq_num.clone(),
                if aliases.is_empty() {
                    LocationRejectReason::incompleteAddress(())
                } else {
                    LocationRejectReason::notRegistered(())
                },
            )),
        }
    }
}

fn registration_reject(seq: RequestSeqNum, reason: RegistrationRejectReason) -> RasMessage {
    RasMessage::registrationReject(RegistrationReject::required(
        seq,
        protocol_identifier(),
        reason,
    ))
}

/// A registering endpoint's aliases, as text.
fn terminal_aliases(r: &RegistrationRequest) -> Vec<String> {
    r.terminal_alias
        .iter()
        .flatten()
        .filter_map(alias_text)
        .collect()
}

fn unregistration_reject(seq: RequestSeqNum, reason: UnregRejectReason) -> RasMessage {
    RasMessage::unregistrationReject(UnregistrationReject::required(seq, reason))
}

fn admission_reject(seq: RequestSeqNum, reason: AdmissionRejectReason) -> RasMessage {
    RasMessage::admissionReject(AdmissionReject::required(seq, reason))
}

fn not_understood(seq: RequestSeqNum, datagram: &[u8]) -> RasMessage {
    RasMessage::unknownMessageResponse(
        UnknownMessageResponse::required(seq)
            .with_message_not_understood(OctetString::from(datagram.to_vec())),
    )
}

fn is_reject(m: &RasMessage) -> bool {
    matches!(
        m,
        RasMessage::gatekeeperReject(_)
            | RasMessage::registrationReject(_)
            | RasMessage::unregistrationReject(_)
            | RasMessage::admissionReject(_)
            | RasMessage::disengageReject(_)
            | RasMessage::bandwidthReject(_)
            | RasMessage::locationReject(_)
            | RasMessage::unknownMessageResponse(_)
    )
}

/// The sequence number of a request we do not serve (None for messages
/// that are not requests).
fn request_seq_num(m: &RasMessage) -> Option<RequestSeqNum> {
    match m {
        RasMessage::infoRequest(r) => Some(r.request_seq_num.clone()),
        RasMessage::resourcesAvailableIndicate(r) => Some(r.request_seq_num.clone()),
        RasMessage::serviceControlIndication(r) => Some(r.request_seq_num.clone()),
        _ => None,
    }
}
