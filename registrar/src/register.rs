//! One REGISTER, start to finish: domain check, lockout, digest challenge
//! and verification (unknown and known users fail alike), nonce freshness
//! and replay, then the binding change and the reply listing the bindings.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tracing::{info, warn};

use crate::binding::{self, Refusal, Update};
use crate::contact;
use crate::digest::{self, Algorithm, Credentials};
use crate::lockout::{Lockout, LockoutPolicy};
use crate::nonce::{NonceCheck, Nonces};
use crate::{Policy, RegistrarStore};

/// Registrar settings.
#[derive(Debug, Clone)]
pub struct RegistrarConfig {
    /// The digest realm (HA1 values are bound to it).
    pub realm: String,
    /// Domains we register for (Request-URI host) besides this host's own
    /// IP addresses; empty: any.
    pub domains: Vec<String>,
    /// Offered algorithms, most preferred first (RFC 8760).
    pub algorithms: Vec<Algorithm>,
    pub nonce_lifetime_secs: u64,
    /// OPTIONS keepalive interval to registered rooms; 0: none.
    pub keepalive_secs: u64,
    pub policy: Policy,
    pub lockout: LockoutPolicy,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        RegistrarConfig {
            realm: "mra".into(),
            domains: Vec::new(),
            // MD5 alone by default, as Kamailio and Asterisk do: stacks that
            // know only MD5 fail on a SHA-256 challenge even next to an MD5
            // one (libre/baresip 1.x: ENOSYS) or answer only the first (SIPp).
            algorithms: vec![Algorithm::Md5],
            nonce_lifetime_secs: 300,
            keepalive_secs: 30,
            policy: Policy::default(),
            lockout: LockoutPolicy::default(),
        }
    }
}

/// A REGISTER as signaling parsed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterRequest {
    pub request_uri: String,
    pub to_uri: String,
    pub call_id: String,
    pub cseq: u32,
    /// Every Contact header value.
    pub contacts: Vec<String>,
    pub expires: Option<u32>,
    /// Every Authorization header value.
    pub authorization: Vec<String>,
    pub path: Vec<String>,
    /// Option tags of Supported.
    pub supported: Vec<String>,
    pub user_agent: Option<String>,
    /// Where it came from (the received/rport address).
    pub source: SocketAddr,
    /// "udp" or "tcp".
    pub transport: &'static str,
}

/// The response to send: status, reason and headers to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterReply {
    pub code: u16,
    pub reason: &'static str,
    pub headers: Vec<(&'static str, String)>,
}

impl RegisterReply {
    fn new(code: u16, reason: &'static str) -> RegisterReply {
        RegisterReply {
            code,
            reason,
            headers: Vec::new(),
        }
    }

    fn warning(mut self, text: &str) -> RegisterReply {
        self.headers
            .push(("Warning", format!("399 mra \"{}\"", text.replace('"', "'"))));
        self
    }

    /// The header's value, if present (the first one).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Counters for /metrics.
#[derive(Debug, Default)]
pub struct RegistrarStats {
    pub registered: AtomicU64,
    pub challenged: AtomicU64,
    pub auth_failures: AtomicU64,
    pub lockouts: AtomicU64,
    pub refused_locked: AtomicU64,
    pub stale_nonces: AtomicU64,
    pub replays: AtomicU64,
    pub refused_domain: AtomicU64,
    pub store_errors: AtomicU64,
    pub keepalives_answered: AtomicU64,
    pub keepalives_unanswered: AtomicU64,
}

struct State {
    nonces: Nonces,
    lockout: Lockout,
}

/// The registrar service.
pub struct Registrar {
    cfg: RegistrarConfig,
    pub(crate) store: Arc<dyn RegistrarStore>,
    state: Mutex<State>,
    pub stats: RegistrarStats,
}

/// Compared against when the user does not exist, so that unknown users
/// cost and answer the same as known ones with a wrong password.
const NOBODY_HA1: &str = "00000000000000000000000000000000";

impl Registrar {
    pub fn new(cfg: RegistrarConfig, store: Arc<dyn RegistrarStore>) -> Registrar {
        Registrar {
            state: Mutex::new(State {
                nonces: Nonces::new(cfg.nonce_lifetime_secs),
                lockout: Lockout::new(cfg.lockout),
            }),
            cfg,
            store,
            stats: RegistrarStats::default(),
        }
    }

    pub fn config(&self) -> &RegistrarConfig {
        &self.cfg
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("registrar state")
    }

    /// Handles one REGISTER arriving at `now` (unix seconds).
    pub async fn register(&self, req: &RegisterRequest, now: u64) -> RegisterReply {
        let ip = req.source.ip();
        if !self.serves(&req.request_uri) {
            self.stats.refused_domain.fetch_add(1, Ordering::Relaxed);
            return RegisterReply::new(403, "Forbidden").warning("Domain not served here");
        }
        if let Some(left) = self.state().lockout.locked(ip, now) {
            self.stats.refused_locked.fetch_add(1, Ordering::Relaxed);
            let mut reply = RegisterReply::new(403, "Forbidden")
                .warning("Too many failed authentication attempts");
            reply.headers.push(("Retry-After", left.to_string()));
            return reply;
        }
        let credentials = req
            .authorization
            .iter()
            .filter_map(|h| Credentials::parse(h))
            .find(|c| c.realm == self.cfg.realm);
        let Some(credentials) = credentials else {
            return self.challenge(now, false);
        };
        let algorithm = Algorithm::parse(credentials.algorithm.as_deref())
            .filter(|a| self.cfg.algorithms.contains(a));
        let Some(algorithm) = algorithm else {
            return self.challenge(now, false);
        };
        let account = match self.store.account(&credentials.username).await {
            Ok(account) => account,
            Err(e) => return self.store_failed(e),
        };
        let to_user = uri_user(&req.to_uri);
        let ha1 = account
            .as_ref()
            .filter(|a| a.realm == self.cfg.realm && to_user.as_deref() == Some(&a.user))
            .map(|a| match algorithm {
                Algorithm::Md5 => a.ha1_md5.as_str(),
                Algorithm::Sha256 => a.ha1_sha256.as_str(),
            });
        let verified =
            credentials.verify(algorithm, ha1.unwrap_or(NOBODY_HA1), "REGISTER") && ha1.is_some();
        if !verified {
            self.stats.auth_failures.fetch_add(1, Ordering::Relaxed);
            if self.state().lockout.failed(ip, now) {
                self.stats.lockouts.fetch_add(1, Ordering::Relaxed);
                warn!(source = %ip, "registration lockout after repeated authentication failures");
            }
            return self.challenge(now, false);
        }
        let nonce = self
            .state()
            .nonces
            .check(&credentials.nonce, credentials.nc, now);
        match nonce {
            NonceCheck::Fresh => {}
            NonceCheck::Stale => {
                self.stats.stale_nonces.fetch_add(1, Ordering::Relaxed);
                return self.challenge(now, true);
            }
            NonceCheck::Replayed => {
                self.stats.replays.fetch_add(1, Ordering::Relaxed);
                return self.challenge(now, true);
            }
        }
        self.state().lockout.succeeded(ip, now);
        let account = account.expect("verified");
        if !account.transports.iter().any(|t| t == req.transport) {
            return RegisterReply::new(403, "Forbidden").warning(&format!(
                "Transport {} not allowed for this room",
                req.transport
            ));
        }
        self.change_bindings(&account.user, req, now).await
    }

    async fn change_bindings(&self, user: &str, req: &RegisterRequest, now: u64) -> RegisterReply {
        let contacts =
            match contact::parse(&req.contacts.iter().map(String::as_str).collect::<Vec<_>>()) {
                Ok(c) => c,
                Err(e) => return RegisterReply::new(400, "Bad Request").warning(&e.to_string()),
            };
        let supports = |tag: &str| req.supported.iter().any(|s| s.eq_ignore_ascii_case(tag));
        let update = Update {
            user: user.to_owned(),
            contacts,
            expires: req.expires,
            call_id: req.call_id.clone(),
            cseq: req.cseq,
            path: if supports("path") {
                req.path.clone()
            } else {
                Vec::new()
            },
            outbound: supports("outbound"),
            source: req.source.to_string(),
            transport: req.transport.to_owned(),
            user_agent: req.user_agent.clone(),
            now,
        };
        // H.323 registrations of the same room are RAS's to change.
        let (h323, current): (Vec<_>, Vec<_>) = match self.store.bindings(user).await {
            Ok(b) => b.into_iter().partition(crate::Binding::is_h323),
            Err(e) => return self.store_failed(e),
        };
        let bindings = match binding::apply(&current, &update, &self.cfg.policy) {
            Ok(b) => b,
            Err(Refusal::IntervalTooBrief(min)) => {
                let mut reply = RegisterReply::new(423, "Interval Too Brief");
                reply.headers.push(("Min-Expires", min.to_string()));
                return reply;
            }
            Err(e @ Refusal::Malformed(_)) => {
                return RegisterReply::new(400, "Bad Request").warning(&e.to_string())
            }
            Err(e @ Refusal::OutOfOrder) => {
                return RegisterReply::new(500, "Server Internal Error").warning(&e.to_string())
            }
            Err(e @ Refusal::TooManyContacts(_)) => {
                return RegisterReply::new(403, "Forbidden").warning(&e.to_string())
            }
        };
        if bindings != current {
            let all = [bindings.as_slice(), &h323].concat();
            if let Err(e) = self.store.replace_bindings(user, &all).await {
                return self.store_failed(e);
            }
        }
        self.stats.registered.fetch_add(1, Ordering::Relaxed);
        info!(user, source = %req.source, contacts = bindings.len(), "registered");
        let mut reply = RegisterReply::new(200, "OK");
        for b in &bindings {
            reply
                .headers
                .push(("Contact", binding::contact_value(b, now)));
        }
        for p in &update.path {
            reply.headers.push(("Path", p.clone()));
        }
        if update.outbound && bindings.iter().any(|b| b.reg_id.is_some()) {
            reply.headers.push(("Require", "outbound".into()));
        }
        reply
    }

    /// 401 with one challenge per offered algorithm, in preference order.
    fn challenge(&self, now: u64, stale: bool) -> RegisterReply {
        self.stats.challenged.fetch_add(1, Ordering::Relaxed);
        let nonce = self.state().nonces.issue(now);
        let mut reply = RegisterReply::new(401, "Unauthorized");
        for &algorithm in &self.cfg.algorithms {
            reply.headers.push((
                "WWW-Authenticate",
                digest::challenge(algorithm, &self.cfg.realm, &nonce, stale),
            ));
        }
        reply
    }

    fn store_failed(&self, e: crate::StoreError) -> RegisterReply {
        self.stats.store_errors.fetch_add(1, Ordering::Relaxed);
        warn!("registration: {e}");
        let mut reply = RegisterReply::new(500, "Server Internal Error");
        reply.headers.push(("Retry-After", "5".into()));
        reply
    }

    /// SIP bindings to keep alive at `now` (every live one).
    pub async fn live_bindings(&self, now: u64) -> Vec<crate::Binding> {
        match self.store.live_bindings(now).await {
            Ok(b) => b.into_iter().filter(|b| !b.is_h323()).collect(),
            Err(e) => {
                self.stats.store_errors.fetch_add(1, Ordering::Relaxed);
                warn!("keepalive: {e}");
                Vec::new()
            }
        }
    }

    /// Records a keepalive outcome.
    pub async fn record_probe(&self, user: &str, contact: &str, alive: bool, now: u64) {
        let counter = if alive {
            &self.stats.keepalives_answered
        } else {
            &self.stats.keepalives_unanswered
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = self.store.set_reachable(user, contact, alive, now).await {
            self.stats.store_errors.fetch_add(1, Ordering::Relaxed);
            warn!("keepalive: {e}");
        }
    }

    /// Whether the Request-URI names a domain we serve.
    fn serves(&self, request_uri: &str) -> bool {
        if self.cfg.domains.is_empty() {
            return true;
        }
        let Some(host) = uri_host(request_uri) else {
            return false;
        };
        self.cfg
            .domains
            .iter()
            .any(|d| d.eq_ignore_ascii_case(&host))
            || host.parse().is_ok_and(is_own_address)
    }
}

/// Whether `ip` is one of this host's addresses (only those can be bound).
fn is_own_address(ip: std::net::IpAddr) -> bool {
    std::net::UdpSocket::bind((ip, 0)).is_ok()
}

fn uri_user(uri: &str) -> Option<String> {
    rsip::Uri::try_from(uri).ok()?.user().map(str::to_owned)
}

fn uri_host(uri: &str) -> Option<String> {
    let uri = rsip::Uri::try_from(uri).ok()?;
    Some(
        uri.host_with_port
            .host
            .to_string()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
    )
}

#[cfg(test)]
mod tests;
