//! A room's camera and screen over plain RTP, for rooms the tests script
//! (H.323): FFmpeg encodes a solid-colour picture to RTP — H.264 (libx264,
//! mode 1) or, for an older room, H.263 (RFC 2190, CIF) — and decodes what
//! the gateway sends back in the same codec. Both go through the room's
//! one video port (symmetric RTP, as rooms do), with a relay thread each
//! way between it and FFmpeg's own ports.

use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::h323_room::rtp_pair;
use super::tools;

/// What the camera sends and its screen decodes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum RoomCodec {
    H264,
    H263,
}

impl RoomCodec {
    /// FFmpeg's encoder arguments and the picture size.
    fn encoder(self) -> (&'static [&'static str], &'static str) {
        match self {
            RoomCodec::H264 => (
                &[
                    "-c:v",
                    "libx264",
                    "-profile:v",
                    "baseline",
                    "-tune",
                    "zerolatency",
                    "-g",
                    "30",
                    "-bsf:v",
                    "dump_extra",
                ],
                "640x360",
            ),
            RoomCodec::H263 => (
                &["-c:v", "h263", "-g", "30", "-rtpflags", "rfc2190"],
                "352x288",
            ),
        }
    }

    /// FFmpeg's decoder options, and how many frames to decode: H.264's
    /// decoder shows nothing before a keyframe, H.263's shows black (its
    /// reference before the first picture), so its first keyframe is
    /// what is looked at.
    fn decoder(self) -> (&'static [&'static str], &'static str) {
        match self {
            RoomCodec::H264 => (&[], "10"),
            RoomCodec::H263 => (&["-skip_frame", "nokey"], "1"),
        }
    }

    /// The SDP lines FFmpeg's decoder reads the gateway's RTP with.
    fn sdp(self, payload_type: u8) -> String {
        match self {
            RoomCodec::H264 => format!(
                "a=rtpmap:{payload_type} H264/90000\r\n\
                 a=fmtp:{payload_type} packetization-mode=1\r\n"
            ),
            RoomCodec::H263 => format!("a=rtpmap:{payload_type} H263/90000\r\n"),
        }
    }
}

pub struct RtpCamera {
    codec: RoomCodec,
    /// The room's video RTP socket and its RTCP neighbour.
    socket: UdpSocket,
    _rtcp: UdpSocket,
    stop: Arc<AtomicBool>,
    relays: Vec<JoinHandle<()>>,
    encoder: Option<Child>,
    /// RTP packets that came from the gateway.
    received: Arc<AtomicUsize>,
    /// Where the relay hands the gateway's packets to the decoder.
    decoder: SocketAddr,
    dir: tempfile::TempDir,
}

impl RtpCamera {
    /// The room's video port pair, bound; nothing sent yet.
    pub fn new(codec: RoomCodec) -> RtpCamera {
        let (socket, rtcp) = rtp_pair();
        let (decoder, _) = rtp_pair();
        RtpCamera {
            codec,
            socket,
            _rtcp: rtcp,
            stop: Arc::new(AtomicBool::new(false)),
            relays: Vec::new(),
            encoder: None,
            received: Arc::new(AtomicUsize::new(0)),
            decoder: decoder.local_addr().unwrap(),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn rtp(&self) -> SocketAddr {
        self.socket.local_addr().unwrap()
    }

    pub fn rtcp(&self) -> SocketAddr {
        SocketAddr::new(self.rtp().ip(), self.rtp().port() + 1)
    }

    /// Starts sending a `colour` picture (640×360 H.264, CIF H.263) at
    /// 30 fps with a keyframe a second on `payload_type` to `to`; and
    /// relays what comes back towards the decoder.
    pub fn start(&mut self, colour: &str, payload_type: u8, to: SocketAddr) {
        let (from_encoder, _encoder_rtcp) = rtp_pair();
        let port = from_encoder.local_addr().unwrap().port();
        let (codec_args, size) = self.codec.encoder();
        let encoder = tools::command("ffmpeg")
            .args(["-loglevel", "error", "-re", "-f", "lavfi", "-i"])
            .arg(format!("color=c={colour}:s={size}:r=30"))
            .args(["-t", "120", "-pix_fmt", "yuv420p"])
            .args(codec_args)
            .args(["-f", "rtp"])
            .args(["-payload_type", &payload_type.to_string()])
            .arg(format!("rtp://127.0.0.1:{port}?pkt_size=1200"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("ffmpeg (package ffmpeg) must be installed");
        self.encoder = Some(encoder);
        let room = self.socket.try_clone().unwrap();
        self.relays.push(self.relay(from_encoder, room, to, None));
        let room = self.socket.try_clone().unwrap();
        let out = UdpSocket::bind("127.0.0.1:0").unwrap();
        let received = Some(self.received.clone());
        self.relays
            .push(self.relay(room, out, self.decoder, received));
    }

    /// Forwards what `from` receives to `to` through `through`, counting.
    fn relay(
        &self,
        from: UdpSocket,
        through: UdpSocket,
        to: SocketAddr,
        count: Option<Arc<AtomicUsize>>,
    ) -> JoinHandle<()> {
        let stop = self.stop.clone();
        std::thread::spawn(move || {
            from.set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            let mut buf = [0u8; 2048];
            while !stop.load(Ordering::Relaxed) {
                if let Ok((n, _)) = from.recv_from(&mut buf) {
                    if let Some(count) = &count {
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                    let _ = through.send_to(&buf[..n], to);
                }
            }
        })
    }

    /// RTP packets received from the gateway so far.
    pub fn received(&self) -> usize {
        self.received.load(Ordering::Relaxed)
    }

    /// The middle pixel of the picture the room decodes (its codec on
    /// `payload_type`), retried until `ready` says it looks right. Like a
    /// room that starts decoding, it asks for a keyframe (`ask`) every
    /// second while its decoder waits.
    pub fn received_colour(
        &self,
        payload_type: u8,
        within: Duration,
        ready: impl Fn([u8; 3]) -> bool,
        mut ask: impl FnMut(),
    ) -> [u8; 3] {
        let sdp = self.dir.path().join("room.sdp");
        std::fs::write(
            &sdp,
            format!(
                "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=room\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                 m=video {} RTP/AVP {payload_type}\r\n{}",
                self.decoder.port(),
                self.codec.sdp(payload_type)
            ),
        )
        .unwrap();
        let deadline = Instant::now() + within;
        let mut last = None;
        while Instant::now() < deadline {
            let rgb = self.decode_one(&sdp, &mut ask);
            match rgb {
                Some(rgb) if ready(rgb) => return rgb,
                Some(rgb) => last = Some(rgb),
                None => {}
            }
        }
        panic!(
            "the room's decoded picture never looked right (last {last:?}; {} packets)",
            self.received()
        );
    }

    /// Decodes a few frames from the gateway (see [`RoomCodec::decoder`]):
    /// the last one's middle pixel. Asks for a keyframe each second the
    /// decoder is still waiting, and gives up after ten.
    fn decode_one(&self, sdp: &std::path::Path, ask: &mut impl FnMut()) -> Option<[u8; 3]> {
        let (options, frames) = self.codec.decoder();
        let mut decoder = tools::command("ffmpeg")
            .args(["-loglevel", "quiet", "-protocol_whitelist", "file,udp,rtp"])
            .args(options)
            .arg("-i")
            .arg(sdp)
            .args(["-frames:v", frames, "-vf", "crop=2:2:iw/2:ih/2"])
            .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("ffmpeg (package ffmpeg) must be installed");
        let mut stdout = decoder.stdout.take().expect("piped");
        let (done, output) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut out = Vec::new();
            let _ = std::io::Read::read_to_end(&mut stdout, &mut out);
            let _ = done.send(out);
        });
        let mut out = None;
        for _ in 0..10 {
            ask();
            if let Ok(read) = output.recv_timeout(Duration::from_secs(1)) {
                out = Some(read);
                break;
            }
        }
        let _ = decoder.kill();
        let _ = decoder.wait();
        let out = out.or_else(|| output.recv().ok())?;
        let last = out.len().checked_sub(12)?;
        Some([out[last], out[last + 1], out[last + 2]])
    }
}

impl Drop for RtpCamera {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(mut encoder) = self.encoder.take() {
            let _ = encoder.kill();
            let _ = encoder.wait();
        }
        for relay in self.relays.drain(..) {
            let _ = relay.join();
        }
    }
}
