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

    /// A new browser on `url` whose fake camera shows `video` (a Y4M file).
    pub fn open_with_camera(&mut self, id: &str, url: &str, audio: &Path, video: &Path) {
        self.request(json!({"cmd": "open", "id": id, "url": url, "audio": audio, "video": video}));
    }

    /// The mean colour of the middle of `participant`'s video tile on
    /// `id`'s page, once it shows a picture.
    pub fn tile_colour(&mut self, id: &str, participant: &str) -> Option<[u8; 3]> {
        let reply = self.request(json!({"cmd": "pixel", "id": id, "participant": participant}));
        let rgb = reply["rgb"].as_array()?;
        let c = |i: usize| rgb.get(i).and_then(Value::as_u64).unwrap_or(0) as u8;
        Some([c(0), c(1), c(2)])
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
    /// Starts timing the colour changes of `participant`'s tile.
    pub fn watch(&mut self, id: &str, participant: &str) {
        let reply = self.request(json!({"cmd": "watch", "id": id, "participant": participant}));
        assert_eq!(reply["ok"], true, "{reply}");
    }

    /// The colour changes seen since `watch`: (colour, wall-clock ms).
    pub fn changes(&mut self, id: &str) -> Vec<(String, f64)> {
        let reply = self.request(json!({"cmd": "changes", "id": id}));
        reply["changes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                let colour = c["colour"].as_str().unwrap_or_default().to_owned();
                (colour, c["at"].as_f64().unwrap_or_default())
            })
            .collect()
    }

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

/// The meeting page of `mra`.
pub fn page(mra: &super::Mra) -> String {
    format!("http://{}/", mra.web)
}

/// A WAV of one tone for a browser's fake microphone.
pub fn microphone(dir: &tempfile::TempDir, hz: f64) -> std::path::PathBuf {
    let path = dir.path().join(format!("{hz}.wav"));
    super::wav::write_tones(&path, &[(&[hz], 60.0)]);
    path
}

/// The inbound stream of `kind` from `participant`, if there is one.
pub fn from<'a>(inbound: &'a [Value], participant: &str, kind: &str) -> Option<&'a Value> {
    inbound
        .iter()
        .find(|s| s["participant"] == participant && s["kind"] == kind)
}

/// The id of the tile on `viewer`'s page named `name`.
pub fn tile_id(browsers: &mut Browsers, viewer: &str, name: &str) -> String {
    let tiles = browsers.wait(
        &format!("{name}'s tile on {viewer}'s page"),
        |b| b.tiles(viewer),
        |t| t.iter().any(|t| t["name"] == name),
    );
    let tile = tiles.iter().find(|t| t["name"] == name).unwrap();
    tile["id"].as_str().unwrap().to_owned()
}
