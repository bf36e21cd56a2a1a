//! A real `mra lb --config FILE` on loopback, its admin API, and the
//! `[[lb.listener]]` tables tests give it.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{free_port, http, Mra};

/// A running `mra lb`, killed (by PID) on drop.
pub struct Lb {
    child: Child,
    pub dir: tempfile::TempDir,
    pub admin: SocketAddr,
}

/// One `[[lb.listener]]` table in front of `backends` (their SIP ports).
pub fn listener(
    name: &str,
    protocol: &str,
    bind_port: u16,
    backends: &[&Mra],
    extra: &str,
) -> String {
    let list: Vec<String> = backends.iter().map(|b| format!("\"{}\"", b.sip)).collect();
    format!(
        "[[lb.listener]]\nname = \"{name}\"\nprotocol = \"{protocol}\"\nbind = \"127.0.0.1:{bind_port}\"\nbackends = [{}]\n{extra}\n",
        list.join(", ")
    )
}

impl Lb {
    /// Starts with `listeners` (TOML) and waits for its admin API.
    pub fn start(listeners: &str) -> Lb {
        let dir = tempfile::tempdir().unwrap();
        let admin: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let lb = Lb {
            child: Command::new(env!("CARGO_BIN_EXE_mra"))
                .args(["lb", "--config"])
                .arg(Self::write(&dir, admin, listeners))
                .env("MRA_LOG_LEVEL", "info")
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(dir.path().join("lb.log")).unwrap())
                .spawn()
                .expect("start mra lb"),
            dir,
            admin,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while http(lb.admin, "GET", "/api/v1/lb", None).0 != 200 {
            assert!(
                Instant::now() < deadline,
                "mra lb did not come up:\n{}",
                lb.log()
            );
            std::thread::yield_now();
        }
        lb
    }

    fn write(dir: &tempfile::TempDir, admin: SocketAddr, listeners: &str) -> std::path::PathBuf {
        let path = dir.path().join("lb.toml");
        std::fs::write(
            &path,
            format!("[lb]\nadmin = \"{admin}\"\nworkers = 2\n\n{listeners}"),
        )
        .unwrap();
        path
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("lb.log")).unwrap_or_default()
    }

    pub fn status(&self) -> Value {
        let (code, body) = http(self.admin, "GET", "/api/v1/lb", None);
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    /// A backend's entry in a listener's status.
    pub fn backend(&self, listener: &str, backend: SocketAddr) -> Value {
        let status = self.status();
        status["listeners"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["name"] == listener)
            .and_then(|l| {
                l["backends"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|b| b["address"] == backend.to_string())
                    .cloned()
            })
            .unwrap_or_else(|| panic!("no backend {backend} on {listener}: {status}"))
    }

    /// Polls until the backend's state is `state`; returns how long it took.
    pub fn wait_state(&self, listener: &str, backend: SocketAddr, state: &str) -> Duration {
        let start = Instant::now();
        while self.backend(listener, backend)["state"] != state {
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "{backend} never became {state}: {}\n{}",
                self.status(),
                self.log()
            );
            std::thread::yield_now();
        }
        start.elapsed()
    }

    /// Starts (`true`) or stops draining a backend through the admin API.
    pub fn drain(&self, listener: &str, backend: SocketAddr, on: bool) {
        let method = if on { "PUT" } else { "DELETE" };
        let path = format!("/api/v1/lb/listeners/{listener}/backends/{backend}/drain");
        let (code, body) = http(self.admin, method, &path, None);
        assert_eq!(code, 200, "{body}");
    }

    /// Rewrites the configuration file and asks for a reload.
    pub fn reload(&self, listeners: &str) -> (u16, String) {
        Self::write(&self.dir, self.admin, listeners);
        http(self.admin, "POST", "/api/v1/lb/reload", None)
    }

    pub fn metrics(&self) -> String {
        http(self.admin, "GET", "/metrics", None).1
    }
}

impl Drop for Lb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- mra lb log ---\n{}", self.log());
        }
    }
}
