//! Headless Chromium participants on the meeting page, driven through
//! tests/browser/driver.mjs (playwright-core; Debian's /usr/bin/chromium):
//! one JSON command per line, one JSON reply per line.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The driver process; its browsers close when it is dropped.
pub struct Browsers {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Browsers {
    pub fn start() -> Browsers {
        let dir = super::manifest_dir().join("tests/browser");
        assert!(
            dir.join("node_modules/playwright-core").exists(),
            "run `npm ci --prefix tests/browser` first (the README's install command does)"
        );
        let mut child = super::tools::command("node")
            .arg(dir.join("driver.mjs"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node (package nodejs) must be installed");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Browsers {
            child,
            stdin,
            stdout,
        }
    }

    /// Sends one command and returns its reply; panics if it failed.
    pub fn request(&mut self, command: Value) -> Value {
        writeln!(self.stdin, "{command}").unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let reply: Value = serde_json::from_str(&line)
            .unwrap_or_else(|_| panic!("driver said {line:?} to {command}"));
        assert_eq!(reply["ok"], true, "{command} failed: {}", reply["error"]);
        reply
    }

    /// A new browser (own fake microphone playing `audio`, if given) on `url`.
    pub fn open(&mut self, id: &str, url: &str, audio: Option<&Path>) {
        self.request(json!({"cmd": "open", "id": id, "url": url, "audio": audio}));
    }

    /// Fills the join form and submits it: `Ok` once in the meeting, or the
    /// error the page shows.
    pub fn join(
        &mut self,
        id: &str,
        meeting: &str,
        password: &str,
        name: &str,
    ) -> Result<(), String> {
        let reply = self.request(json!({
            "cmd": "join", "id": id, "meeting": meeting, "password": password, "name": name
        }));
        match reply["joined"].as_bool() {
            Some(true) => Ok(()),
            _ => Err(reply["error"].as_str().unwrap_or_default().to_owned()),
        }
    }

    /// Inbound RTP streams of participant `id`'s page (getStats).
    pub fn inbound(&mut self, id: &str) -> Vec<Value> {
        let reply = self.request(json!({"cmd": "stats", "id": id}));
        reply["inbound"].as_array().cloned().unwrap_or_default()
    }

    /// Participant ids of the tiles on `id`'s page.
    pub fn tiles(&mut self, id: &str) -> Vec<Value> {
        let reply = self.request(json!({"cmd": "tiles", "id": id}));
        reply["tiles"].as_array().cloned().unwrap_or_default()
    }

    pub fn click(&mut self, id: &str, selector: &str) {
        self.request(json!({"cmd": "click", "id": id, "selector": selector}));
    }

    pub fn screenshot(&mut self, id: &str, path: &Path) {
        self.request(json!({"cmd": "screenshot", "id": id, "path": path}));
    }

    pub fn console(&mut self, id: &str) -> Value {
        self.request(json!({"cmd": "log", "id": id}))["log"].clone()
    }

    /// Polls `probe` until `ready` holds for what it returns, up to 20 s.
    pub fn wait<T: std::fmt::Debug>(
        &mut self,
        what: &str,
        mut probe: impl FnMut(&mut Self) -> T,
        ready: impl Fn(&T) -> bool,
    ) -> T {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let value = probe(self);
            if ready(&value) {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "{what} never happened: {value:?}"
            );
        }
    }
}

impl Drop for Browsers {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
