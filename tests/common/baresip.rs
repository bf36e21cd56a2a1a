//! A real SIP user agent for tests: baresip (package baresip-core) in its
//! own config directory, scripted over its `ctrl_tcp` JSON netstring
//! interface and observed through the events it reports.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::free_port;

/// A running baresip, killed (by PID) on drop.
pub struct Baresip {
    child: Child,
    pub dir: tempfile::TempDir,
    ctrl: BufReader<TcpStream>,
}

impl Baresip {
    /// Starts baresip as `sip:<user>@127.0.0.1`, sending a 440 Hz sine.
    pub fn start(user: &str) -> Baresip {
        let dir = tempfile::tempdir().unwrap();
        let ctrl_port = free_port();
        let config = format!(
            "poll_method epoll\n\
             sip_listen 127.0.0.1:{sip}\n\
             audio_player aubridge,nil\n\
             audio_alert aubridge,nil\n\
             audio_source ausine,440\n\
             ausrc_srate 48000\n\
             auplay_srate 48000\n\
             ausrc_channels 2\n\
             module_path /usr/lib/baresip/modules\n\
             module g711.so\n\
             module g722.so\n\
             module opus.so\n\
             module ausine.so\n\
             module aubridge.so\n\
             module sndfile.so\n\
             module ctrl_tcp.so\n\
             module_app account.so\n\
             module_app menu.so\n\
             ctrl_tcp_listen 127.0.0.1:{ctrl_port}\n\
             snd_path {snd}\n",
            sip = free_port(),
            snd = dir.path().display(),
        );
        std::fs::write(dir.path().join("config"), config).unwrap();
        std::fs::write(
            dir.path().join("accounts"),
            format!("\"{user}\" <sip:{user}@127.0.0.1>;regint=0\n"),
        )
        .unwrap();
        let child = Command::new("baresip")
            .arg("-f")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.path().join("baresip.log")).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("baresip (package baresip-core) must be installed");
        let deadline = Instant::now() + Duration::from_secs(10);
        let stream = loop {
            match TcpStream::connect(("127.0.0.1", ctrl_port)) {
                Ok(s) => break s,
                Err(e) if Instant::now() > deadline => panic!("baresip ctrl_tcp: {e}"),
                Err(_) => std::thread::yield_now(),
            }
        };
        Baresip {
            child,
            dir,
            ctrl: BufReader::new(stream),
        }
    }

    /// Sends a ctrl_tcp command (`dial`, `sndcode`, `hangup`, ...).
    pub fn command(&mut self, command: &str, params: &str) {
        let msg = serde_json::json!({"command": command, "params": params, "token": command});
        let body = msg.to_string();
        write!(self.ctrl.get_mut(), "{}:{body},", body.len()).unwrap();
    }

    /// Waits for an event of `kind` (e.g. `CALL_ESTABLISHED`) and returns it.
    pub fn wait_event(&mut self, kind: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "baresip never reported {kind}; its log:\n{}",
                self.log()
            );
            let msg = match self.next_message(left) {
                Some(m) => m,
                None => continue,
            };
            if msg["event"] == true && msg["type"] == kind {
                return msg;
            }
        }
    }

    fn next_message(&mut self, within: Duration) -> Option<Value> {
        self.ctrl.get_ref().set_read_timeout(Some(within)).unwrap();
        let mut len = Vec::new();
        self.ctrl.read_until(b':', &mut len).ok()?;
        let n: usize = std::str::from_utf8(&len[..len.len().checked_sub(1)?])
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let mut body = vec![0u8; n + 1];
        self.ctrl.read_exact(&mut body).ok()?;
        serde_json::from_slice(&body[..n]).ok()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("baresip.log")).unwrap_or_default()
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
