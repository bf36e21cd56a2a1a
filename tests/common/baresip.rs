//! A real SIP user agent for tests: baresip (package baresip-core) in its
//! own config directory, scripted over its `ctrl_tcp` JSON netstring
//! interface and observed through the events it reports.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{free_port, free_ports};

/// A running baresip, killed (by PID) on drop.
pub struct Baresip {
    child: Child,
    pub dir: tempfile::TempDir,
    ctrl: BufReader<TcpStream>,
    /// Events read while waiting for a response.
    events: VecDeque<Value>,
}

/// What a baresip sends as its microphone.
pub enum Source<'a> {
    /// A sine (baresip's `ausine`).
    Sine(u32),
    /// A 48 kHz stereo WAV file (baresip's `aufile`).
    File(&'a Path),
}

impl Baresip {
    /// Starts baresip as `sip:<user>@127.0.0.1` sending `source`; with
    /// `codecs` (e.g. `"opus/48000/2"`, `"PCMA"`), it offers only those.
    pub fn start(user: &str, source: Source, codecs: Option<&str>) -> Baresip {
        let codecs = codecs
            .map(|c| format!(";audio_codecs={c}"))
            .unwrap_or_default();
        let account = format!("\"{user}\" <sip:{user}@127.0.0.1>;regint=0{codecs}");
        Baresip::launch(user, &account, source, None)
    }

    /// Starts baresip as [`Baresip::start`] does, its calls encrypted by
    /// `mediaenc` (`srtp-mand`: SDES over RTP/SAVP; `srtp`: best effort,
    /// RTP/AVP with a=crypto; `dtls_srtp`: DTLS-SRTP over
    /// UDP/TLS/RTP/SAVPF), meant to be dialled over TLS.
    pub fn encrypted(user: &str, source: Source, codecs: &str, mediaenc: &str) -> Baresip {
        Baresip::encrypted_over("tls", user, source, codecs, mediaenc)
    }

    /// [`Baresip::encrypted`] calling over `transport` (`udp`: DTLS-SRTP
    /// needs no TLS signaling).
    pub fn encrypted_over(
        transport: &str,
        user: &str,
        source: Source,
        codecs: &str,
        mediaenc: &str,
    ) -> Baresip {
        let account = format!(
            "\"{user}\" <sip:{user}@127.0.0.1;transport={transport}>;regint=0;audio_codecs={codecs};mediaenc={mediaenc}"
        );
        Baresip::launch(user, &account, source, None)
    }

    /// A video room ([`Baresip::video_room`], H.264 at 640x360) whose
    /// calls are encrypted by `mediaenc`, meant to be dialled over TLS.
    pub fn encrypted_video_room(
        user: &str,
        source: Source,
        clip: &Path,
        mediaenc: &str,
    ) -> Baresip {
        let account = format!(
            "\"{user}\" <sip:{user}@127.0.0.1;transport=tls>;regint=0;video_codecs=H264;mediaenc={mediaenc}"
        );
        Baresip::launch(user, &account, source, Some((clip, "640x360")))
    }

    /// Starts a video room: baresip sending `source` and, as its camera,
    /// the video file `clip` (looped; package baresip-ffmpeg), encoded as
    /// `codec`: `H264` (libx264), `VP8` (libvpx) or `H263` (FFmpeg's, at
    /// CIF: H.263 has fixed picture sizes).
    pub fn video_room(user: &str, source: Source, clip: &Path, codec: &str) -> Baresip {
        let size = if codec == "H263" {
            "352x288"
        } else {
            "640x360"
        };
        Baresip::video_room_sized(user, source, clip, codec, size)
    }

    /// As [`Baresip::video_room`], its camera encoded at `size`.
    pub fn video_room_sized(
        user: &str,
        source: Source,
        clip: &Path,
        codec: &str,
        size: &str,
    ) -> Baresip {
        let account = format!("\"{user}\" <sip:{user}@127.0.0.1>;regint=0;video_codecs={codec}");
        Baresip::launch(user, &account, source, Some((clip, size)))
    }

    /// Starts baresip registering as `user` (digest `password`) with the
    /// registrar at `registrar`, answering calls automatically.
    pub fn registered(
        user: &str,
        password: &str,
        registrar: SocketAddr,
        source: Source,
    ) -> Baresip {
        Baresip::registered_as(user, password, &registrar.to_string(), "", source)
    }

    /// As [`Baresip::registered`], over SIP TLS to `registrar` (our TLS
    /// port), taking SRTP when offered (`mediaenc=srtp`, best effort): it
    /// registers, is kept alive and called on that connection.
    pub fn registered_over_tls(
        user: &str,
        password: &str,
        registrar: SocketAddr,
        source: Source,
    ) -> Baresip {
        let host = format!("{registrar};transport=tls");
        Baresip::registered_as(user, password, &host, ";mediaenc=srtp", source)
    }

    /// `host`: the registrar (with URI parameters); `params`: more
    /// account parameters.
    fn registered_as(
        user: &str,
        password: &str,
        host: &str,
        params: &str,
        source: Source,
    ) -> Baresip {
        let account = format!(
            "\"{user}\" <sip:{user}@{host}>;auth_pass={password};regint=600;answermode=auto{params}"
        );
        Baresip::launch(user, &account, source, None)
    }

    /// Starts baresip; `camera`: the clip it sends and the picture size.
    fn launch(user: &str, account: &str, source: Source, camera: Option<(&Path, &str)>) -> Baresip {
        let dir = tempfile::tempdir().unwrap();
        let ctrl_port = free_port();
        let source = match source {
            Source::Sine(hz) => format!("ausine,{hz}"),
            Source::File(path) => format!("aufile,{}", path.display()),
        };
        let config = format!(
            "poll_method epoll\n\
             sip_listen 127.0.0.1:{sip}\n\
             audio_player aubridge,nil\n\
             audio_alert aubridge,nil\n\
             audio_source {source}\n\
             ausrc_srate 48000\n\
             auplay_srate 48000\n\
             ausrc_channels 2\n\
             module_path /usr/lib/baresip/modules\n\
             module g711.so\n\
             module g722.so\n\
             module opus.so\n\
             module ausine.so\n\
             module aufile.so\n\
             module aubridge.so\n\
             module sndfile.so\n\
             module srtp.so\n\
             module dtls_srtp.so\n\
             module ctrl_tcp.so\n\
             module_app account.so\n\
             module_app menu.so\n\
             ctrl_tcp_listen 127.0.0.1:{ctrl_port}\n\
             snd_path {snd}\n",
            sip = free_ports(2),
            snd = dir.path().display(),
        );
        let config = match camera {
            Some((clip, size)) => {
                assert!(
                    Path::new("/usr/lib/baresip/modules/avformat.so").exists(),
                    "baresip's video modules (package baresip-ffmpeg) must be installed"
                );
                format!(
                    "{config}video_source avformat,{clip}\n\
                     video_display fakevideo,nil\n\
                     video_size {size}\n\
                     video_bitrate 800000\n\
                     video_fps 30\n\
                     avcodec_h264enc libx264\n\
                     module avcodec.so\n\
                     module vp8.so\n\
                     module avformat.so\n\
                     module fakevideo.so\n\
                     module snapshot.so\n",
                    clip = clip.display()
                )
            }
            None => config,
        };
        std::fs::write(dir.path().join("config"), config).unwrap();
        std::fs::write(dir.path().join("accounts"), format!("{account}\n")).unwrap();
        // stdbuf: unbuffered, so the log is whole when a test shows it.
        super::tools::require("baresip");
        let child = super::tools::command("stdbuf")
            .args(["-o0", "baresip", "-f"])
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
        let mut baresip = Baresip {
            child,
            dir,
            ctrl: BufReader::new(stream),
            events: VecDeque::new(),
        };
        // ctrl_tcp is up before the account is loaded: wait for the user agent.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !baresip.request("reginfo", "")["data"]
            .as_str()
            .is_some_and(|d| d.contains(&format!("sip:{user}@")))
        {
            assert!(
                Instant::now() < deadline,
                "baresip has no user agent: {}",
                baresip.log()
            );
        }
        baresip
    }

    /// Dials `uri` and waits until the call is established.
    pub fn dial(&mut self, uri: &str) {
        let response = self.request("dial", uri);
        assert_eq!(response["ok"], true, "dial {uri}: {response}");
        self.wait_event("CALL_ESTABLISHED", Duration::from_secs(15));
    }

    /// Sends a command and returns its response (events meanwhile are
    /// kept); fails if none comes within 10 s, however many events do.
    pub fn request(&mut self, command: &str, params: &str) -> Value {
        self.command(command, params);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let msg = Some(left)
                .filter(|left| !left.is_zero())
                .and_then(|left| self.next_message(left))
                .unwrap_or_else(|| panic!("no response to {command}; log:\n{}", self.log()));
            if msg["response"] == true {
                return msg;
            }
            self.events.push_back(msg);
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
            let msg = match self.events.pop_front().or_else(|| self.next_message(left)) {
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

    /// The colour of the middle of the next picture baresip decodes from
    /// the gateway, asked again until `ready` likes it or `within` has
    /// passed.
    pub fn received_colour(
        &mut self,
        within: Duration,
        ready: impl Fn([u8; 3]) -> bool,
    ) -> [u8; 3] {
        self.received_picture(within, |t| ready(t.middle()))
            .middle()
    }

    /// The next picture baresip decodes from the gateway (its
    /// `snapshot_recv` PNG, read back by FFmpeg as a thumbnail), asked
    /// again until `ready` likes it or `within` has passed.
    pub fn received_picture(
        &mut self,
        within: Duration,
        ready: impl Fn(&Thumbnail) -> bool,
    ) -> Thumbnail {
        let png = self.dir.path().join("received.png");
        let written = |b: &Baresip| b.log().matches("png: wrote").count();
        let picture = Thumbnail::until(within, ready, || {
            let before = written(self);
            self.request("snapshot_recv", &png.display().to_string());
            // The PNG is written when the next frame is decoded; baresip
            // logs it once the file is closed. Each check waits for a
            // round trip through baresip's loop, which decodes meanwhile.
            let taken = Instant::now() + Duration::from_secs(2);
            while written(self) == before && Instant::now() < taken {
                self.request("reginfo", "");
            }
            (written(self) > before)
                .then(|| Thumbnail::of(&png))
                .flatten()
        });
        picture.unwrap_or_else(|last| {
            panic!(
                "baresip's received picture never looked right (last middle {last:?}); its log:\n{}",
                self.log()
            )
        })
    }

    /// What baresip decoded from the gateway (its sndfile `-dec.wav` dump).
    pub fn decoded(&self) -> PathBuf {
        std::fs::read_dir(self.dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
            .unwrap_or_else(|| panic!("no decoded audio recorded; log:\n{}", self.log()))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("baresip.log")).unwrap_or_default()
    }
}

/// A picture file scaled to 320×180 RGB by FFmpeg.
pub struct Thumbnail {
    rgb: Vec<u8>,
}

impl Thumbnail {
    pub const WIDTH: usize = 320;
    pub const HEIGHT: usize = 180;

    /// None while the file is still being written.
    pub fn of(path: &Path) -> Option<Thumbnail> {
        let out = super::tools::command("ffmpeg")
            .args(["-loglevel", "error", "-i"])
            .arg(path)
            .args(["-vf", "scale=320:180", "-frames:v", "1"])
            .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
            .output()
            .expect("ffmpeg (package ffmpeg) must be installed");
        (out.stdout.len() == Self::WIDTH * Self::HEIGHT * 3)
            .then_some(Thumbnail { rgb: out.stdout })
    }

    /// Takes pictures with `take` (None: none came) until one satisfies
    /// `ready`, for at most `within`; else the middle of the last one.
    pub fn until(
        within: Duration,
        ready: impl Fn(&Thumbnail) -> bool,
        mut take: impl FnMut() -> Option<Thumbnail>,
    ) -> Result<Thumbnail, Option<[u8; 3]>> {
        let deadline = Instant::now() + within;
        let mut last = None;
        while Instant::now() < deadline {
            match take() {
                Some(picture) if ready(&picture) => return Ok(picture),
                Some(picture) => last = Some(picture.middle()),
                None => {}
            }
        }
        Err(last)
    }

    pub fn pixel(&self, x: usize, y: usize) -> [u8; 3] {
        let at = (y * Self::WIDTH + x) * 3;
        [self.rgb[at], self.rgb[at + 1], self.rgb[at + 2]]
    }

    pub fn middle(&self) -> [u8; 3] {
        self.pixel(Self::WIDTH / 2, Self::HEIGHT / 2)
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
