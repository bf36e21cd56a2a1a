//! A real SIP room that sends VP8: linphonec (package linphone-cli) in a
//! home directory of its own (over UDP, or over TLS with SRTP), its camera a still picture (mediastreamer's
//! StaticImage) and its microphone a WAV file, scripted on its standard
//! input and observed through its console and the snapshots it takes of
//! the video it receives.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::baresip::Thumbnail;
use super::{free_port, free_ports};

/// A running linphonec, killed (by PID) on drop.
pub struct Linphone {
    child: Child,
    stdin: ChildStdin,
    /// Its console so far, and a signal for each line added.
    console: Arc<(Mutex<String>, Condvar)>,
    dir: tempfile::TempDir,
    snapshots: usize,
    /// What its microphone plays once a call runs.
    mic: PathBuf,
}

impl Linphone {
    /// Starts linphonec as `"<name>" <sip:<user>@127.0.0.1>` whose camera
    /// is the picture `still` (a JPEG) and whose microphone plays `wav`.
    pub fn video_room(user: &str, name: &str, still: &Path, wav: &Path) -> Linphone {
        Linphone::launch(user, name, still, wav, "sip_tls_port=0\n")
    }

    /// A video room ([`Linphone::video_room`]) that calls over TLS (dial
    /// `;transport=tls`; our certificate is self-signed, so not checked)
    /// with its media encrypted as `media_encryption` says (`srtp`: SDES,
    /// `dtls`: DTLS-SRTP), mandatory.
    pub fn encrypted_video_room(
        user: &str,
        name: &str,
        still: &Path,
        wav: &Path,
        media_encryption: &str,
    ) -> Linphone {
        let tls = format!(
            "sip_tls_port={}\n\
             verify_server_certs=0\n\
             verify_server_cn=0\n\
             media_encryption={media_encryption}\n\
             media_encryption_mandatory=1\n",
            free_port()
        );
        Linphone::launch(user, name, still, wav, &tls)
    }

    /// Starts linphonec with `tls` as its `[sip]` section's TLS lines.
    fn launch(user: &str, name: &str, still: &Path, wav: &Path, tls: &str) -> Linphone {
        super::tools::require("linphonec");
        let dir = tempfile::tempdir().unwrap();
        // Without a database directory the core never starts listening.
        std::fs::create_dir_all(dir.path().join(".local/share/linphone")).unwrap();
        let (audio, video) = (free_ports(2), free_ports(2));
        let config = format!(
            "[sip]\n\
             sip_port={sip}\n\
             sip_tcp_port=0\n\
             {tls}\
             bind_address=127.0.0.1\n\
             contact=\"{name}\" <sip:{user}@127.0.0.1>\n\
             [rtp]\n\
             audio_rtp_port={audio}\n\
             video_rtp_port={video}\n\
             [sound]\n\
             echocancellation=0\n\
             [video]\n\
             enabled=1\n\
             capture=1\n\
             display=1\n\
             automatically_initiate=1\n\
             automatically_accept=1\n\
             size=vga\n\
             displaytype=MSExtDisplay\n",
            sip = free_port(),
        );
        let rc = dir.path().join("linphonerc");
        std::fs::write(&rc, config).unwrap();
        let mut child = super::tools::command("linphonec")
            .args(["-V", "-d", "0", "-c"])
            .arg(&rc)
            .env("HOME", dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("linphonec (package linphone-cli) must be installed");
        let console = Arc::new((Mutex::new(String::new()), Condvar::new()));
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let lines = console.clone();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                let (console, added) = &*lines;
                let mut console = console.lock().unwrap();
                console.push_str(&line);
                console.push('\n');
                added.notify_all();
            }
        });
        let stdin = child.stdin.take().unwrap();
        let mut linphone = Linphone {
            child,
            stdin,
            console,
            dir,
            snapshots: 0,
            mic: wav.to_owned(),
        };
        linphone.command("soundcard use files");
        linphone.command(&format!("staticpic set {}", still.display()));
        linphone.command("webcam use 0");
        linphone.wait_console("Using video device StaticImage", Duration::from_secs(10));
        linphone
    }

    /// Sends a console command.
    pub fn command(&mut self, command: &str) {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// Calls `uri` and waits until the call's media runs; then plays its
    /// microphone file into the call.
    pub fn dial(&mut self, uri: &str) {
        self.command(&format!("call {uri}"));
        self.wait_console("Media streams established", Duration::from_secs(10));
        let play = format!("play {}", self.mic.display());
        self.command(&play);
    }

    /// Waits until the console shows `text`.
    pub fn wait_console(&self, text: &str, within: Duration) {
        let (console, added) = &*self.console;
        let (console, timeout) = added
            .wait_timeout_while(console.lock().unwrap(), within, |c| !c.contains(text))
            .unwrap();
        assert!(
            !timeout.timed_out(),
            "linphonec never said {text:?}; its console:\n{console}"
        );
    }

    /// Snapshots of the video linphonec receives until one satisfies
    /// `ready`, for at most `within`.
    pub fn received_picture(
        &mut self,
        within: Duration,
        ready: impl Fn(&Thumbnail) -> bool,
    ) -> Thumbnail {
        let picture = Thumbnail::until(within, ready, || {
            self.snapshots += 1;
            let path = self.snapshot_path();
            self.command(&format!("snapshot {}", path.display()));
            // Written when the next frame is decoded; linphonec says
            // nothing when it is, so the file is looked for.
            let taken = Instant::now() + Duration::from_secs(2);
            let mut picture = None;
            while picture.is_none() && Instant::now() < taken {
                std::thread::sleep(Duration::from_millis(50));
                picture = Thumbnail::of(&path);
            }
            picture
        });
        picture.unwrap_or_else(|last| {
            panic!(
                "linphonec's received picture never looked right (last middle {last:?}); its console:\n{}",
                self.console.0.lock().unwrap()
            )
        })
    }

    fn snapshot_path(&self) -> PathBuf {
        self.dir
            .path()
            .join(format!("received-{}.jpg", self.snapshots))
    }
}

impl Drop for Linphone {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
