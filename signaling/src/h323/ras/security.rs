//! The gatekeeper's H.235.1 policy: which room a RAS request speaks for
//! (by its aliases, its endpoint identifier or its call-signalling
//! address), whether the request's token lets it (a room that has a key
//! must sign, or may leave tokens out when they are optional; a token
//! present is always checked), the reject with securityDenial when not,
//! and our signature on every answer to a room that signed.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use h323_asn1::h225::{
    AdmissionRejectReason, BandRejectReason, BandwidthReject, CryptoH323Token, DisengageReject,
    DisengageRejectReason, RasMessage, RegistrationRejectReason, UnregRejectReason,
};
use tracing::warn;

use super::{
    admission_reject, registration_reject, terminal_aliases, unregistration_reject, Gatekeeper,
};
use crate::h323::address::text;
use crate::h323::h235::{self, Denial, Key};

/// How answers to a request that passed are signed.
pub(super) struct Signer {
    key: Key,
    /// The endpoint identifier of the room, once it has one.
    endpoint: Option<String>,
}

/// What a request claims to be: the room and its endpoint identifier.
struct Claim {
    user: String,
    secret: String,
    endpoint: Option<String>,
}

impl Gatekeeper {
    /// Ok(Some) when the request passed H.235.1 and answers are to be
    /// signed, Ok(None) when it speaks for no room or goes unsigned, or
    /// the reject to send (None: drop it).
    pub(super) async fn authenticate(
        &self,
        m: &RasMessage,
        datagram: &[u8],
        from: SocketAddr,
        now: u64,
    ) -> Result<Option<Signer>, Option<RasMessage>> {
        let Some(claim) = self.claim(m, now).await else {
            return Ok(None);
        };
        let token = h235::find(crypto_tokens(m));
        let key = h235::key(&claim.secret);
        let checked = match (token, key) {
            // A token present is checked whenever it can be.
            (Some(token), Some(key)) => h235::verify(
                token,
                datagram,
                &key,
                &self.cfg.id,
                now,
                self.cfg.h235_clock_skew,
            )
            .and_then(|stamp| {
                self.replays.lock().expect("replays").check(
                    &claim.user,
                    &stamp,
                    sequence(m),
                    now,
                    self.cfg.h235_clock_skew,
                )
            })
            .map(|()| key),
            _ if !self.cfg.require_h235 => return Ok(None),
            (_, None) => Err(Denial::NoKey),
            (None, Some(_)) => Err(Denial::Absent),
        };
        match checked {
            Ok(key) => Ok(Some(Signer {
                key,
                endpoint: claim.endpoint,
            })),
            Err(denial) => {
                self.stats.security_denials.fetch_add(1, Ordering::Relaxed);
                warn!(room = %claim.user, %from, "RAS request refused: {denial}");
                Err(security_denial(m))
            }
        }
    }

    /// The room `m` speaks for, when it is a request of a room's endpoint.
    async fn claim(&self, m: &RasMessage, now: u64) -> Option<Claim> {
        let endpoint = match m {
            RasMessage::registrationRequest(r) if r.keep_alive != Some(true) => {
                let account = self
                    .registrar
                    .h323_account(&terminal_aliases(r))
                    .await
                    .ok()?;
                return Some(Claim {
                    user: account.user,
                    secret: account.h235_key,
                    endpoint: None,
                });
            }
            RasMessage::registrationRequest(r) => text(&r.endpoint_identifier.as_ref()?.0),
            RasMessage::unregistrationRequest(r) => self.unregistering(r, now).await?,
            RasMessage::admissionRequest(r) => text(&r.endpoint_identifier.0),
            RasMessage::disengageRequest(r) => text(&r.endpoint_identifier.0),
            RasMessage::bandwidthRequest(r) => text(&r.endpoint_identifier.0),
            RasMessage::infoRequestResponse(r) => text(&r.endpoint_identifier.0),
            _ => return None,
        };
        let account = self.registrar.h323_owner(&endpoint).await.ok()?;
        Some(Claim {
            user: account.user,
            secret: account.h235_key,
            endpoint: Some(endpoint),
        })
    }

    /// Signs `reply` (to a request that passed) when `signer` says so:
    /// the token goes in before encoding, the hash after.
    pub(super) fn encode_signed(
        &self,
        mut reply: RasMessage,
        signer: Option<&Signer>,
        now: u64,
    ) -> Option<Vec<u8>> {
        if let Some(signer) = signer {
            // An RCF names the identifier the endpoint is to use from now on.
            let recipient = match &reply {
                RasMessage::registrationConfirm(c) => Some(text(&c.endpoint_identifier.0)),
                _ => signer.endpoint.clone(),
            };
            if let Some(tokens) = reply_tokens(&mut reply) {
                // A non-negative 32-bit RandomVal, as the profile has it.
                let random = (rand::random::<u32>() >> 1) as i32;
                let token = h235::token(recipient.as_deref(), &self.cfg.id, now, random);
                *tokens = Some(vec![token]);
            }
        }
        let mut bytes = match h323_asn1::encode(&reply) {
            Ok(bytes) => bytes,
            Err(e) => {
                warn!("encoding a RAS answer: {e}");
                return None;
            }
        };
        if let Some(signer) = signer {
            h235::seal(&mut bytes, &signer.key);
        }
        Some(bytes)
    }
}

/// The tokens of a request a room's endpoint sends.
fn crypto_tokens(m: &RasMessage) -> &[CryptoH323Token] {
    let tokens = match m {
        RasMessage::registrationRequest(r) => &r.crypto_tokens,
        RasMessage::unregistrationRequest(r) => &r.crypto_tokens,
        RasMessage::admissionRequest(r) => &r.crypto_tokens,
        RasMessage::disengageRequest(r) => &r.crypto_tokens,
        RasMessage::bandwidthRequest(r) => &r.crypto_tokens,
        RasMessage::infoRequestResponse(r) => &r.crypto_tokens,
        _ => return &[],
    };
    tokens.as_deref().unwrap_or(&[])
}

fn sequence(m: &RasMessage) -> u16 {
    match m {
        RasMessage::registrationRequest(r) => r.request_seq_num.0,
        RasMessage::unregistrationRequest(r) => r.request_seq_num.0,
        RasMessage::admissionRequest(r) => r.request_seq_num.0,
        RasMessage::disengageRequest(r) => r.request_seq_num.0,
        RasMessage::bandwidthRequest(r) => r.request_seq_num.0,
        RasMessage::infoRequestResponse(r) => r.request_seq_num.0,
        _ => 0,
    }
}

/// Where the tokens of an answer go.
fn reply_tokens(m: &mut RasMessage) -> Option<&mut Option<Vec<CryptoH323Token>>> {
    Some(match m {
        RasMessage::registrationConfirm(r) => &mut r.crypto_tokens,
        RasMessage::registrationReject(r) => &mut r.crypto_tokens,
        RasMessage::unregistrationConfirm(r) => &mut r.crypto_tokens,
        RasMessage::unregistrationReject(r) => &mut r.crypto_tokens,
        RasMessage::admissionConfirm(r) => &mut r.crypto_tokens,
        RasMessage::admissionReject(r) => &mut r.crypto_tokens,
        RasMessage::disengageConfirm(r) => &mut r.crypto_tokens,
        RasMessage::bandwidthConfirm(r) => &mut r.crypto_tokens,
        RasMessage::infoRequestAck(r) => &mut r.crypto_tokens,
        _ => return None,
    })
}

/// The reject of `m` saying securityDenial (None for an IRR: no answer).
fn security_denial(m: &RasMessage) -> Option<RasMessage> {
    Some(match m {
        RasMessage::registrationRequest(r) => registration_reject(
            r.request_seq_num.clone(),
            RegistrationRejectReason::securityDenial(()),
        ),
        RasMessage::unregistrationRequest(r) => unregistration_reject(
            r.request_seq_num.clone(),
            UnregRejectReason::securityDenial(()),
        ),
        RasMessage::admissionRequest(r) => admission_reject(
            r.request_seq_num.clone(),
            AdmissionRejectReason::securityDenial(()),
        ),
        RasMessage::disengageRequest(r) => RasMessage::disengageReject(DisengageReject::required(
            r.request_seq_num.clone(),
            DisengageRejectReason::securityDenial(()),
        )),
        RasMessage::bandwidthRequest(r) => RasMessage::bandwidthReject(BandwidthReject::required(
            r.request_seq_num.clone(),
            BandRejectReason::securityDenial(()),
            r.band_width.clone(),
        )),
        _ => return None,
    })
}
