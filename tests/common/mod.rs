//! Test harness: starts a real `mra run` on loopback with its own ports and
//! data directory, and drives it with real peers (SIPp) or raw UDP.

#![allow(dead_code)]

pub mod baresip;
pub mod browser;
pub mod capture;
pub mod clips;
pub mod h323;
pub mod h323_room;
pub mod impair;
pub mod lb;
pub mod linphone;
pub mod pcap;
pub mod postgres;
pub mod register;
pub mod rtp_camera;
pub mod tools;
pub mod wav;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

/// A running `mra run`, killed (by PID) on drop.
pub struct Mra {
    child: Child,
    /// The `MRA_*` overrides it was started with (kept for restarts).
    env: Vec<(String, String)>,
    pub dir: tempfile::TempDir,
    pub sip: SocketAddr,
    pub admin: SocketAddr,
    /// The bearer token requests to the admin API carry, if one is set.
    admin_token: Option<String>,
    /// The admin API is off loopback, so HTTPS.
    admin_https: bool,
    /// The meeting page (plain HTTP on loopback).
    pub web: SocketAddr,
    /// H.323 RAS (UDP) and call signalling (TCP).
    pub ras: SocketAddr,
    pub h225: SocketAddr,
    /// SIP over TLS.
    pub sip_tls: SocketAddr,
}

/// Ports handed out in this test process, never handed out twice.
static TAKEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());

/// Peers' ports come from 30000–32767: below the kernel's ephemeral range,
/// so no outgoing connection can take one between our choice and the bind,
/// and above the media ranges of `Mra::start`.
const PEER_PORTS: std::ops::Range<u16> = 30000..32768;

/// A port free now for UDP and TCP.
pub fn free_port() -> u16 {
    free_ports(1)
}

/// The first of `n` consecutive ports free for UDP and TCP (baresip also
/// takes its SIP port + 1, for TLS).
pub fn free_ports(n: u16) -> u16 {
    let mut taken = TAKEN.lock().unwrap();
    let span = PEER_PORTS.end - PEER_PORTS.start;
    let offset = (std::process::id() as u16).wrapping_mul(97) % span;
    (0..span)
        .map(|i| PEER_PORTS.start + (offset + i) % span)
        .find(|&first| {
            let ports = first..first.saturating_add(n);
            ports.end <= PEER_PORTS.end
                && ports.clone().all(|p| {
                    !taken.contains(&p)
                        && UdpSocket::bind(("127.0.0.1", p)).is_ok()
                        && std::net::TcpListener::bind(("127.0.0.1", p)).is_ok()
                })
        })
        .inspect(|&first| taken.extend(first..first + n))
        .expect("a free port in 30000-32767")
}

/// Moves this test's thread into a network namespace of its own with only
/// loopback up, so that every process it starts (mra, browsers, SIP
/// peers) sees 127.0.0.1 and nothing else. (Peers that insist on a default
/// route, like baresip, get one through loopback with a second loopback
/// address, 192.0.2.1 from TEST-NET-1, that never leaves the namespace.) Where
/// namespaces are not allowed (not root), says so and stays on the host's
/// loopback.
pub fn isolate_network() {
    // SAFETY: unshare(2) with CLONE_NEWNET changes only the calling thread's
    // network namespace; no memory is involved.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        eprintln!(
            "note: no network namespace ({}); using the host's loopback",
            std::io::Error::last_os_error()
        );
        return;
    }
    for args in [
        "link set lo up",
        "addr add 192.0.2.1/32 dev lo",
        "route add default dev lo",
    ] {
        let ok = tools::command("ip")
            .args(args.split(' '))
            .status()
            .expect("ip (package iproute2) must be installed");
        assert!(ok.success(), "ip {args}");
    }
}

/// Distinct media port ranges per test process.
static MEDIA_BASE: AtomicU16 = AtomicU16::new(0);

impl Mra {
    pub fn start() -> Mra {
        Mra::start_with(&[])
    }

    /// Starts with extra `MRA_*` environment overrides.
    pub fn start_with(env: &[(&str, &str)]) -> Mra {
        let slot = MEDIA_BASE.fetch_add(1, Ordering::Relaxed);
        // 40 ports: ten legs with audio and video.
        let media_min = 10000 + (std::process::id() as u16 % 50) * 300 + slot * 40;
        let (sip_port, admin_port, web_port) = (free_port(), free_port(), free_port());
        let (ras_port, h225_port, tls_port) = (free_port(), free_port(), free_port());
        let mut all = vec![
            ("MRA_SIP_BIND".to_owned(), "127.0.0.1".to_owned()),
            ("MRA_SIP_PORT".into(), sip_port.to_string()),
            ("MRA_ADMIN_BIND".into(), format!("127.0.0.1:{admin_port}")),
            ("MRA_WEB_BIND".into(), format!("127.0.0.1:{web_port}")),
            ("MRA_WEB_TLS".into(), "false".into()),
            ("MRA_MEDIA_PORT_MIN".into(), media_min.to_string()),
            ("MRA_MEDIA_PORT_MAX".into(), (media_min + 39).to_string()),
            ("MRA_IVR_INTER_DIGIT_TIMEOUT_SECS".into(), "30".into()),
            ("MRA_H323_RAS_PORT".into(), ras_port.to_string()),
            ("MRA_H323_CALL_SIGNAL_PORT".into(), h225_port.to_string()),
            ("MRA_SIP_TLS_PORT".into(), tls_port.to_string()),
        ];
        all.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        // An overridden admin address (0.0.0.0:port: reached on loopback).
        let admin_bind: SocketAddr = setting(&all, "MRA_ADMIN_BIND")
            .and_then(|v| v.parse().ok())
            .expect("MRA_ADMIN_BIND is an address");
        let admin = SocketAddr::from(([127, 0, 0, 1], admin_bind.port()));
        let dir = tempfile::tempdir().unwrap();
        let mra = Mra {
            child: spawn(dir.path(), &all),
            dir,
            sip: ([127, 0, 0, 1], sip_port).into(),
            admin,
            admin_token: setting(&all, "MRA_ADMIN_TOKEN").map(str::to_owned),
            admin_https: !admin_bind.ip().is_loopback(),
            web: ([127, 0, 0, 1], web_port).into(),
            ras: ([127, 0, 0, 1], ras_port).into(),
            h225: ([127, 0, 0, 1], h225_port).into(),
            sip_tls: ([127, 0, 0, 1], tls_port).into(),
            env: all,
        };
        mra.wait_ready();
        mra
    }

    /// Stops it (SIGTERM) and starts it again on the same data directory,
    /// ports and settings.
    pub fn restart(&mut self) {
        assert!(self.sigterm().success(), "mra did not stop cleanly");
        self.child = spawn(self.dir.path(), &self.env);
        self.wait_ready();
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        while Instant::now() < deadline {
            let options = options_request(&sock, self.sip, "ready");
            sock.send_to(options.as_bytes(), self.sip).unwrap();
            let mut buf = [0u8; 4096];
            if let Ok((n, _)) = sock.recv_from(&mut buf) {
                if buf[..n].starts_with(b"SIP/2.0 200")
                    && self.http("GET", "/api/v1/meetings", None).0 == 200
                {
                    return;
                }
            }
        }
        panic!("mra did not come up; log:\n{}", self.log());
    }

    /// The media port range it was started with.
    pub fn media_ports(&self) -> (u16, u16) {
        let port = |key| {
            setting(&self.env, key)
                .and_then(|v| v.parse().ok())
                .expect(key)
        };
        (port("MRA_MEDIA_PORT_MIN"), port("MRA_MEDIA_PORT_MAX"))
    }

    /// The `mra run` process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mra.log")).unwrap_or_default()
    }

    /// `mra meeting create` against the running instance's data directory.
    pub fn create_meeting(&self, number: &str, password: Option<&str>) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mra"));
        cmd.args(["meeting", "create", "--data-dir"])
            .arg(self.dir.path())
            .args(["--number", number]);
        if let Some(p) = password {
            cmd.args(["--password", p]);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "meeting create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A request to the admin API (HTTP/1.1, over TLS when it is off
    /// loopback, with the token when one is set): (status, body).
    pub fn http(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        let token = self.admin_token.as_deref();
        if self.admin_https {
            https(self.admin, method, path, body, token).0
        } else {
            request(self.admin, method, path, body, token)
        }
    }

    /// Kills it outright (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Creates a room account through the admin API.
    pub fn add_room(&self, user: &str, password: &str) {
        let body = format!(r#"{{"user":"{user}","password":"{password}","name":"Room {user}"}}"#);
        let (status, answer) = self.http("POST", "/api/v1/rooms", Some(&body));
        assert_eq!(status, 201, "{answer}");
        assert!(
            !answer.contains(password),
            "the password is never shown: {answer}"
        );
    }

    /// `GET /api/v1/rooms/{user}`.
    pub fn room(&self, user: &str) -> serde_json::Value {
        let (status, body) = self.http("GET", &format!("/api/v1/rooms/{user}"), None);
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    /// Polls the room until `ready` holds, up to 10 s.
    pub fn wait_room(
        &self,
        user: &str,
        what: &str,
        ready: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let r = self.room(user);
            if ready(&r) {
                return r;
            }
            assert!(Instant::now() < deadline, "{what} never happened: {r}");
            std::thread::yield_now();
        }
    }

    /// Polls `GET /api/v1/calls` until `ready` holds for the call list; returns it.
    pub fn wait_calls(
        &self,
        what: &str,
        ready: impl Fn(&[serde_json::Value]) -> bool,
    ) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let (_, body) = self.http("GET", "/api/v1/calls", None);
            let calls: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap_or_default();
            if ready(&calls) {
                return calls;
            }
            assert!(
                Instant::now() < deadline,
                "{what} never happened; calls: {body}\nmra log:\n{}",
                self.log()
            );
        }
    }

    /// One counter from /metrics.
    pub fn metric(&self, name: &str) -> u64 {
        let (_, text) = self.http("GET", "/metrics", None);
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }

    pub fn sigterm(&mut self) -> std::process::ExitStatus {
        unsafe_kill(self.child.id(), "TERM");
        self.child.wait().unwrap()
    }
}

/// A call's video stream (`/api/v1/calls` `media.video`) receives H.264
/// and has turned no packet away.
pub fn assert_receives_h264_cleanly(video: &serde_json::Value) {
    assert_starts_with(video, "codec", "H264/90000");
    assert_eq!(video["rejected_packets"], 0, "{video}");
}

/// `value[field]` is a string starting with `prefix`.
pub fn assert_starts_with(value: &serde_json::Value, field: &str, prefix: &str) {
    assert!(
        value[field].as_str().is_some_and(|s| s.starts_with(prefix)),
        "{field} does not start with {prefix:?}: {value}"
    );
}

/// A plain HTTP/1.1 request: (status, body); status 0 when nothing answers.
pub fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    request(addr, method, path, body, None)
}

/// A plain HTTP/1.1 request with an optional bearer token.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
    token: Option<&str>,
) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return (0, String::new());
    };
    let _ = s.write_all(http_request(method, path, body, token).as_bytes());
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    http_response(&resp)
}

/// An HTTP/1.1 request over TLS, by `openssl s_client` (any certificate
/// taken): ((status, body), the server's certificate in PEM).
pub fn https(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
    token: Option<&str>,
) -> ((u16, String), String) {
    let mut client = tools::command("openssl")
        .args(["s_client", "-connect", &addr.to_string(), "-ign_eof"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let request = http_request(method, path, body, token);
    let _ = client.stdin.take().unwrap().write_all(request.as_bytes());
    let out = client.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let cert = text
        .split_once("-----BEGIN CERTIFICATE-----")
        .and_then(|(_, rest)| rest.split_once("-----END CERTIFICATE-----"))
        .map(|(pem, _)| pem.trim().to_owned())
        .unwrap_or_default();
    let response = text.find("HTTP/1.1 ").map(|at| &text[at..]).unwrap_or("");
    (http_response(response), cert)
}

fn http_request(method: &str, path: &str, body: Option<&str>, token: Option<&str>) -> String {
    let body = body.unwrap_or("");
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len())
}

/// (status, body) of a response; status 0 when there is none.
fn http_response(resp: &str) -> (u16, String) {
    let status = resp.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// The value `env` gives `key` (the last one wins, as for the process).
fn setting<'a>(env: &'a [(String, String)], key: &str) -> Option<&'a str> {
    env.iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// `mra run` on `dir` with `env`, its log appended to `dir/mra.log`.
fn spawn(dir: &Path, env: &[(String, String)]) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("mra.log"))
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_mra"))
        .args(["run", "--data-dir"])
        .arg(dir)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start mra")
}

fn unsafe_kill(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status();
}

impl Drop for Mra {
    /// Stops mra; when a test failed, shows the end of its log first.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.dir.path().join("mra.log")).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            eprintln!(
                "--- last lines of mra.log ---\n{}",
                lines[lines.len().saturating_sub(40)..].join("\n")
            );
        }
    }
}

pub fn options_request(sock: &UdpSocket, to: SocketAddr, id: &str) -> String {
    let local = sock.local_addr().unwrap();
    format!(
        "OPTIONS sip:{to} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{id}{n};rport\r\nFrom: <sip:probe@{local}>;tag=p\r\nTo: <sip:{to}>\r\nCall-ID: {id}{n}@probe\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        n = rand_suffix()
    )
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// The package's directory, read when the test runs (not when it was
/// built): a test binary reused from another checkout through a shared
/// CARGO_TARGET_DIR still finds this checkout's files.
pub fn manifest_dir() -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("tests run under cargo"))
}

/// Runs SIPp with a scenario from tests/sipp; returns (success, output).
pub fn sipp(scenario: &str, service: &str, target: SocketAddr, extra: &[&str]) -> (bool, String) {
    let path: PathBuf = manifest_dir().join("tests/sipp").join(scenario);
    let work = tempfile::tempdir().unwrap();
    let out = tools::command("sipp")
        .current_dir(work.path())
        .arg("-sf")
        .arg(&path)
        .args([
            "-s",
            service,
            "-i",
            "127.0.0.1",
            "-p",
            &free_port().to_string(),
            // SIPp's media takes the port and the next ones (RTCP, video).
            "-mp",
            &free_ports(4).to_string(),
        ])
        .args([
            "-nostdin",
            "-trace_err",
            "-timeout",
            "30s",
            "-timeout_error",
        ])
        // The scenarios' call hold time (`<pause/>`) unless the test sets it.
        .args(if extra.contains(&"-d") {
            &[][..]
        } else {
            &["-d", "200"][..]
        })
        .args(extra)
        .arg(target.to_string())
        .output()
        .expect("sipp (package sip-tester) must be installed");
    let mut text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    for entry in std::fs::read_dir(work.path()).unwrap().flatten() {
        if entry.file_name().to_string_lossy().ends_with("errors.log") {
            text += &std::fs::read_to_string(entry.path()).unwrap_or_default();
        }
    }
    (out.status.success(), text)
}
