//! Effective configuration: built-in defaults, then `mra.toml` (every key
//! optional), then `MRA_<SECTION>_<KEY>` environment variables, then flags.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use media_api::layout::Layout;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub data_dir: PathBuf,
    pub database: Database,
    pub sip: Sip,
    pub h323: H323,
    pub media: Media,
    pub ivr: Ivr,
    pub meetings: Meetings,
    pub registrar: Registrar,
    pub admin: Admin,
    pub web: Web,
    pub log: Log,
    /// The embedded load balancer (`[[lb.listener]]`); none by default.
    pub lb: lb::LbConfig,
}

/// Where durable state lives.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Database {
    /// sqlx URL, e.g. `postgres://mra:secret@db/mra` for a cluster; unset:
    /// SQLite at `DATA_DIR/mra.db`.
    pub url: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Sip {
    /// Address SIP UDP and TCP listen on.
    pub bind: IpAddr,
    pub port: u16,
    /// Address put in Via/Contact/SDP/H.225/H.245 for a node behind NAT or
    /// a load balancer; unset: the address each request arrived on.
    pub advertised_address: Option<IpAddr>,
    /// Answer UDP requests to their source port even without `rport`.
    pub force_rport: bool,
    /// Largest SIP message accepted over TCP, in bytes.
    pub max_message_bytes: usize,
    /// Smallest session-timer interval accepted (Min-SE), seconds.
    pub min_session_expires: u32,
    /// Load balancers (`mra lb` with `proxy_protocol = true`) whose PROXY
    /// v2 headers name the real client; nobody else's are believed.
    pub proxy_protocol_from: Vec<IpAddr>,
    /// SIP over TLS port on `bind`; 0: no TLS listener.
    pub tls_port: u16,
    /// PEM certificate chain and key for SIP over TLS; unset: the meeting
    /// page's (`web.cert`/`web.key`, else the node's self-signed one).
    /// Both reloaded on SIGHUP.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Rooms (trunks, peers) must present a client certificate issued by
    /// a CA in this PEM bundle (mutual TLS); unset: none is asked for.
    pub tls_client_ca: Option<PathBuf>,
    /// Seconds a TLS client has to finish its handshake.
    pub tls_handshake_timeout_secs: u64,
    /// Open TLS connections, at most: in total, and from one address.
    pub tls_max_connections: usize,
    pub tls_max_connections_per_source: usize,
}

/// H.323: the RAS gatekeeper (UDP) and call signalling (TCP), on
/// `sip.bind`'s address.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct H323 {
    pub enabled: bool,
    pub ras_port: u16,
    pub call_signal_port: u16,
    /// Our gatekeeper identifier.
    pub gatekeeper_id: String,
    /// Longest registration life granted (and the default), seconds.
    pub time_to_live_secs: u32,
    /// Also answer gatekeeper discovery sent to the RAS multicast group
    /// (224.0.1.41) on `discovery_port`.
    pub multicast_discovery: bool,
    pub discovery_port: u16,
    /// Rooms' RAS requests must be signed with H.235.1 (H.235 Annex D
    /// procedure I, keyed by the room's password); when false, unsigned
    /// ones are let in too (signed ones are still checked).
    pub require_h235: bool,
    /// Largest difference between an H.235 token's timestamp and our
    /// clock, seconds.
    pub h235_clock_skew_secs: u32,
}

impl Default for H323 {
    fn default() -> Self {
        H323 {
            enabled: true,
            ras_port: 1719,
            call_signal_port: 1720,
            gatekeeper_id: "MRA".into(),
            time_to_live_secs: 300,
            multicast_discovery: false,
            discovery_port: 1718,
            require_h235: true,
            h235_clock_skew_secs: 600,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Media {
    pub port_min: u16,
    pub port_max: u16,
    /// Audio codecs offered and accepted, in preference order.
    pub codecs: Vec<String>,
    /// Video codecs offered and accepted, in preference order (`h264`,
    /// `vp8`, `h263`); empty: rooms' video is declined.
    pub video_codecs: Vec<String>,
    /// The most a call may use, audio and video, in kbit/s (offered as
    /// `b=AS`/`b=TIAS`; rooms that ask for less get less).
    pub max_call_rate_kbps: u32,
    /// Media worker threads (meetings are spread over them); 0: one per core.
    pub workers: usize,
    /// The layout rooms see unless their meeting or they choose another
    /// (`automatic`, `speaker`, `1+5`, `1+7`, `1+21`, `2+21`, `2x2` …
    /// `5x5`; Pexip's and Cisco's names too).
    pub layout: Layout,
    /// SRTP for rooms: `optional` (when a room offers it over TLS),
    /// `required` (clear calls refused with 488), or `off`.
    pub encryption: signaling::sdp::Encryption,
}

impl Media {
    /// How many media workers to run.
    pub fn worker_count(&self) -> usize {
        match self.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Ivr {
    pub enabled: bool,
    pub first_digit_timeout_secs: u64,
    pub inter_digit_timeout_secs: u64,
    pub max_attempts: u8,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Meetings {
    pub max_participants: usize,
}

/// Room registrations (SIP REGISTER with digest authentication).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Registrar {
    /// Digest realm; room passwords are stored as HA1 values for it, so
    /// changing it means setting every room's password again.
    pub realm: String,
    /// Domains REGISTER is accepted for (Request-URI host) besides this
    /// host's own IP addresses, which are always accepted. Empty: the
    /// advertised address, `localhost` and this host's name.
    pub domains: Vec<String>,
    /// Digest algorithms challenged with, most preferred first: "MD5",
    /// "SHA-256". MD5 alone by default: some stacks fail on any SHA-256
    /// challenge (libre/baresip 1.x) or answer only the first (SIPp 3.6).
    /// Add "SHA-256" where every room handles RFC 8760's several challenges.
    pub algorithms: Vec<registrar::Algorithm>,
    pub nonce_lifetime_secs: u64,
    /// OPTIONS keepalive to registered rooms, marking them online or
    /// offline; 0 turns it off.
    pub keepalive_interval_secs: u64,
    pub min_expires_secs: u32,
    pub max_expires_secs: u32,
    pub default_expires_secs: u32,
    pub max_contacts: usize,
    /// Failed authentications from one address within the window that
    /// lock it out, and for how long.
    pub lockout_failures: u32,
    pub lockout_window_secs: u64,
    pub lockout_secs: u64,
}

impl Default for Registrar {
    fn default() -> Self {
        let policy = registrar::Policy::default();
        let lockout = registrar::LockoutPolicy::default();
        Registrar {
            realm: "mra".into(),
            domains: Vec::new(),
            algorithms: registrar::RegistrarConfig::default().algorithms,
            nonce_lifetime_secs: 300,
            keepalive_interval_secs: registrar::RegistrarConfig::default().keepalive_secs,
            min_expires_secs: policy.min_expires,
            max_expires_secs: policy.max_expires,
            default_expires_secs: policy.default_expires,
            max_contacts: policy.max_contacts,
            lockout_failures: lockout.max_failures,
            lockout_window_secs: lockout.window_secs,
            lockout_secs: lockout.lockout_secs,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Admin {
    /// Admin REST API address; anything but loopback requires `token`.
    pub bind: SocketAddr,
    pub token: Option<String>,
}

/// The embedded meeting service's page, WebSocket and WebRTC media.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Web {
    /// HTTPS (or, on loopback only, HTTP) address of the meeting page.
    pub bind: SocketAddr,
    /// Serve HTTPS; `false` is accepted only when `bind` is loopback.
    pub tls: bool,
    /// PEM certificate and key; a self-signed pair is generated into the
    /// data directory when these are not set.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// Address of WebRTC media (ICE host candidates); defaults to the
    /// advertised SIP address, else every interface's IPv4 address and
    /// loopback (or `sip.bind` when that is one address).
    pub rtc_address: Option<IpAddr>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Log {
    /// tracing filter, e.g. `info` or `signaling=debug,info`.
    pub level: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("mra-data"),
            database: Database::default(),
            sip: Sip::default(),
            h323: H323::default(),
            media: Media::default(),
            ivr: Ivr::default(),
            meetings: Meetings::default(),
            registrar: Registrar::default(),
            admin: Admin::default(),
            web: Web::default(),
            log: Log::default(),
            lb: lb::LbConfig::default(),
        }
    }
}

impl Default for Sip {
    fn default() -> Self {
        Sip {
            bind: "0.0.0.0".parse().expect("literal"),
            port: 5060,
            advertised_address: None,
            force_rport: true,
            max_message_bytes: 65535,
            min_session_expires: 90,
            proxy_protocol_from: Vec::new(),
            tls_port: 5061,
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
            tls_handshake_timeout_secs: 10,
            tls_max_connections: 4096,
            tls_max_connections_per_source: 64,
        }
    }
}

impl Default for Media {
    fn default() -> Self {
        Media {
            port_min: 40000,
            port_max: 49999,
            codecs: ["opus", "g722", "pcmu", "pcma"].map(String::from).to_vec(),
            video_codecs: ["h264", "vp8", "h263"].map(String::from).to_vec(),
            max_call_rate_kbps: 4096,
            workers: 0,
            layout: Layout::Automatic,
            encryption: signaling::sdp::Encryption::Optional,
        }
    }
}

impl Default for Ivr {
    fn default() -> Self {
        Ivr {
            enabled: true,
            first_digit_timeout_secs: 15,
            inter_digit_timeout_secs: 5,
            max_attempts: 3,
        }
    }
}

impl Default for Meetings {
    fn default() -> Self {
        Meetings {
            max_participants: 100,
        }
    }
}

impl Default for Web {
    fn default() -> Self {
        Web {
            bind: "0.0.0.0:8443".parse().expect("literal"),
            tls: true,
            cert: None,
            key: None,
            rtc_address: None,
        }
    }
}

impl Default for Log {
    fn default() -> Self {
        Log {
            level: "info".into(),
        }
    }
}

impl Default for Admin {
    fn default() -> Self {
        Admin {
            bind: "127.0.0.1:8080".parse().expect("literal"),
            token: None,
        }
    }
}

impl Log {
    /// The tracing filter: `RUST_LOG` when set, else `level`; either way the
    /// WebRTC stack's per-connection chatter (ICE pings before candidates
    /// arrive, SRTP before DTLS completes — normal on every call) is kept to
    /// errors unless the filter names those crates itself.
    pub fn filter(&self, rust_log: Option<String>) -> String {
        let level = rust_log.unwrap_or_else(|| self.level.clone());
        if level.contains("rtc") {
            level
        } else {
            format!("{level},rtc=error,rtc_ice=error,rtc_dtls=error,webrtc=error")
        }
    }
}

impl Config {
    /// Loads defaults, the optional file, and environment overrides.
    pub fn load(
        file: Option<&Path>,
        env: impl Iterator<Item = (String, String)>,
    ) -> anyhow::Result<Config> {
        let mut value = toml::Value::try_from(Config::default())?;
        let path = file
            .map(Path::to_path_buf)
            .or_else(|| Some(PathBuf::from("mra.toml")).filter(|p| p.exists()));
        if let Some(path) = path {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let file: toml::Value =
                toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
            merge(&mut value, file);
        }
        for (key, raw) in env {
            let Some(rest) = key.strip_prefix("MRA_") else {
                continue;
            };
            apply_env(&mut value, &rest.to_ascii_lowercase(), &raw)
                .with_context(|| format!("environment variable {key}"))?;
        }
        let cfg: Config = value.try_into().context("invalid configuration")?;
        cfg.check()?;
        Ok(cfg)
    }

    fn check(&self) -> anyhow::Result<()> {
        if !self.admin.bind.ip().is_loopback()
            && self.admin.token.as_deref().unwrap_or("").is_empty()
        {
            bail!(
                "admin.bind {} is not loopback: set admin.token (MRA_ADMIN_TOKEN)",
                self.admin.bind
            );
        }
        if !self.web.tls && !self.web.bind.ip().is_loopback() {
            bail!(
                "web.tls = false serves the meeting page in clear: only allowed on loopback, not {}",
                self.web.bind
            );
        }
        if self.sip.tls_cert.is_some() != self.sip.tls_key.is_some() {
            bail!("sip.tls_cert and sip.tls_key go together");
        }
        if self.web.cert.is_some() != self.web.key.is_some() {
            bail!("web.cert and web.key go together");
        }
        if self.registrar.algorithms.is_empty() {
            bail!("registrar.algorithms: at least one of \"SHA-256\", \"MD5\"");
        }
        let r = &self.registrar;
        if r.min_expires_secs > r.default_expires_secs
            || r.default_expires_secs > r.max_expires_secs
        {
            bail!("registrar: min_expires_secs <= default_expires_secs <= max_expires_secs");
        }
        if self.media.port_min >= self.media.port_max {
            bail!("media.port_min must be below media.port_max");
        }
        self.lb.validate().map_err(|e| anyhow::anyhow!("lb: {e}"))?;
        for c in &self.media.codecs {
            if media_api::AudioCodec::from_name(c).is_none() {
                bail!("unknown codec {c:?} in media.codecs (opus, g722, pcmu, pcma)");
            }
        }
        for c in &self.media.video_codecs {
            if media_api::VideoCodec::from_name(c).is_none() {
                bail!("unknown codec {c:?} in media.video_codecs (h264, vp8, h263)");
            }
        }
        if self.media.max_call_rate_kbps < 128 {
            bail!("media.max_call_rate_kbps must be at least 128");
        }
        Ok(())
    }

    /// The registrar's settings, with the default domains filled in.
    pub fn registrar(&self) -> registrar::RegistrarConfig {
        let r = &self.registrar;
        let domains = if r.domains.is_empty() {
            let mut d = vec![self.advertised_ip().to_string(), "localhost".to_owned()];
            if let Ok(host) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
                d.push(host.trim().to_owned());
            }
            d.dedup();
            d
        } else {
            r.domains.clone()
        };
        registrar::RegistrarConfig {
            realm: r.realm.clone(),
            domains,
            algorithms: r.algorithms.clone(),
            nonce_lifetime_secs: r.nonce_lifetime_secs,
            keepalive_secs: r.keepalive_interval_secs,
            policy: registrar::Policy {
                min_expires: r.min_expires_secs,
                max_expires: r.max_expires_secs,
                default_expires: r.default_expires_secs,
                max_contacts: r.max_contacts,
            },
            lockout: registrar::LockoutPolicy {
                max_failures: r.lockout_failures,
                window_secs: r.lockout_window_secs,
                lockout_secs: r.lockout_secs,
            },
        }
    }

    /// One address of ours that names this node: the advertised one, or
    /// the bound one, or loopback (SIP, SDP and H.323 use the address each
    /// request arrived on instead, unless one is advertised).
    pub fn advertised_ip(&self) -> IpAddr {
        self.sip
            .advertised_address
            .unwrap_or(if self.sip.bind.is_unspecified() {
                IpAddr::from([127, 0, 0, 1])
            } else {
                self.sip.bind
            })
    }
}

fn merge(base: &mut toml::Value, over: toml::Value) {
    match (base, over) {
        (toml::Value::Table(b), toml::Value::Table(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

/// `sip_port=5070` → `[sip] port = 5070`; `data_dir=/x` → `data_dir = "/x"`.
fn apply_env(value: &mut toml::Value, key: &str, raw: &str) -> anyhow::Result<()> {
    let table = value.as_table_mut().expect("config is a table");
    let (target, field) = if table.contains_key(key) {
        (table, key.to_owned())
    } else {
        let Some((section, field)) = table.keys().find_map(|s| {
            key.strip_prefix(&format!("{s}_"))
                .map(|f| (s.clone(), f.to_owned()))
        }) else {
            return Ok(());
        };
        (
            table
                .get_mut(&section)
                .and_then(|v| v.as_table_mut())
                .expect("section is a table"),
            field,
        )
    };
    let parsed = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()));
    let parsed = match (target.get(&field), parsed) {
        // Strings, and optional fields (absent from the defaults; all of them strings), keep the raw text.
        (Some(toml::Value::String(_)) | None, p) if !p.is_str() => {
            toml::Value::String(raw.to_owned())
        }
        (_, p) => p,
    };
    target.insert(field, parsed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_file_and_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("mra.toml");
        std::fs::write(
            &file,
            "[sip]\nport = 5070\n[meetings]\nmax_participants = 7\n",
        )
        .unwrap();
        let env = [
            ("MRA_SIP_PORT", "5080"),
            ("MRA_ADMIN_TOKEN", "12345"),
            ("MRA_DATA_DIR", "/tmp/x"),
            ("HOME", "/root"),
        ];
        let cfg = Config::load(
            Some(&file),
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
        .unwrap();
        assert_eq!(cfg.sip.port, 5080);
        assert_eq!(cfg.meetings.max_participants, 7);
        assert_eq!(
            cfg.admin.token.as_deref(),
            Some("12345"),
            "numeric-looking strings stay strings"
        );
        assert_eq!(cfg.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(cfg.media.port_min, 40000);
    }

    #[test]
    fn public_admin_needs_a_token_and_typos_are_errors() {
        let env = [("MRA_ADMIN_BIND", "0.0.0.0:8080")];
        assert!(Config::load(
            None,
            env.iter().map(|(k, v)| (k.to_string(), v.to_string()))
        )
        .is_err());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("mra.toml");
        std::fs::write(&file, "[sip]\nprot = 1\n").unwrap();
        assert!(Config::load(Some(&file), std::iter::empty()).is_err());
    }
}
