//! Meeting joins per second through `mra run`, counted the way a room
//! counts them: a join is complete when the room *hears the meeting* — a
//! room already in it plays a 1 kHz tone, and each joining room decodes
//! MRA's RTP until a 20 ms frame carries that tone — and only then hangs
//! up. JOINS rooms in total, CONCURRENT at a time (each a thread with its
//! own SIP and RTP sockets: INVITE, 200, ACK, hear the tone, BYE, 200);
//! every join must succeed. Printed beside SIPp's uac→uas setups/s on the
//! same machine in the same run (a call that does nothing but signal) and
//! the goal of 200 joins/s.
//! Run: `cargo bench --bench meeting_joins`.

#[path = "../tests/common/mod.rs"]
mod common;
mod support;

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Mra;
use media::audio::{new_codec, CodecOptions, FRAME, RATE};
use media::tones::tone_share;
use media_api::AudioCodec;
use support::{median, sipp_uac, sipp_uas};

const MEETING: &str = "123456789";
const JOINS: usize = 1000;
const CONCURRENT: usize = 50;
const ROUNDS: usize = 3;
const TONE_HZ: f64 = 1000.0;
const GOAL_JOINS_PER_SECOND: f64 = 200.0;

/// A minimal SIP room: one socket for SIP, one for RTP.
struct Room {
    sip: UdpSocket,
    rtp: UdpSocket,
    call_id: String,
    gateway: SocketAddr,
}

impl Room {
    fn new(gateway: SocketAddr, n: usize) -> Room {
        let sip = UdpSocket::bind("127.0.0.1:0").unwrap();
        let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
        for s in [&sip, &rtp] {
            s.set_read_timeout(Some(Duration::from_millis(500)))
                .unwrap();
        }
        Room {
            call_id: format!("join-{n}-{}", sip.local_addr().unwrap().port()),
            sip,
            rtp,
            gateway,
        }
    }

    fn request(&self, method: &str, cseq: u32, to_tag: &str, body: &str) -> String {
        let local = self.sip.local_addr().unwrap();
        let gw = self.gateway;
        let branch = format!("z9hG4bK{method}{cseq}{}", self.call_id);
        let ctype = if body.is_empty() {
            ""
        } else {
            "Content-Type: application/sdp\r\n"
        };
        format!(
            "{method} sip:{MEETING}@{gw} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch};rport\r\n\
             From: \"Bench room\" <sip:room@{local}>;tag=room\r\nTo: <sip:{MEETING}@{gw}>{to_tag}\r\n\
             Call-ID: {}\r\nCSeq: {cseq} {method}\r\nContact: <sip:room@{local}>\r\nMax-Forwards: 70\r\n\
             {ctype}Content-Length: {}\r\n\r\n{body}",
            self.call_id,
            body.len()
        )
    }

    /// Sends `request` until a final response comes; returns it.
    fn transact(&self, request: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        self.sip.send_to(request.as_bytes(), self.gateway).unwrap();
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            match self.sip.recv(&mut buf) {
                Ok(n) => {
                    // (The port may have been an earlier room's RTP port,
                    // still sent to while that leg ends.)
                    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                    if text.starts_with("SIP/2.0 ") && !text.starts_with("SIP/2.0 1") {
                        return text;
                    }
                }
                Err(_) => {
                    self.sip.send_to(request.as_bytes(), self.gateway).unwrap();
                }
            }
        }
        panic!("{}: no final response", self.call_id);
    }

    /// INVITE to the meeting, 200, ACK: MRA's RTP address and the To tag.
    fn join(&self) -> (SocketAddr, String) {
        let port = self.rtp.local_addr().unwrap().port();
        let sdp = format!(
            "v=0\r\no=room 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
        );
        let ok = self.transact(&self.request("INVITE", 1, "", &sdp));
        assert!(ok.starts_with("SIP/2.0 200"), "{}: {ok}", self.call_id);
        let to_tag = ok
            .lines()
            .find(|l| l.starts_with("To:"))
            .and_then(|l| l.split_once(";tag="))
            .map(|(_, t)| format!(";tag={}", t.trim()))
            .unwrap();
        let ack = self.request("ACK", 1, &to_tag, "");
        self.sip.send_to(ack.as_bytes(), self.gateway).unwrap();
        let media_port: u16 = ok
            .lines()
            .find_map(|l| l.strip_prefix("m=audio "))
            .and_then(|m| m.split(' ').next())
            .and_then(|p| p.parse().ok())
            .unwrap();
        (([127, 0, 0, 1], media_port).into(), to_tag)
    }

    fn leave(&self, to_tag: &str) {
        let ok = self.transact(&self.request("BYE", 2, to_tag, ""));
        assert!(ok.starts_with("SIP/2.0 200"), "{}: {ok}", self.call_id);
    }

    /// Waits until a frame of MRA's RTP from `from` (this call's leg, not
    /// an earlier room's that had the port) carries the tone.
    fn hear_tone(&self, from: SocketAddr) {
        let mut codec = new_codec(AudioCodec::Pcmu, CodecOptions::default()).unwrap();
        let (mut buf, mut pcm) = ([0u8; 2048], Vec::with_capacity(FRAME));
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let Ok((n, sender)) = self.rtp.recv_from(&mut buf) else {
                continue;
            };
            if n <= 12 || sender != from {
                continue;
            }
            pcm.clear();
            codec.decode(&buf[12..n], &mut pcm).unwrap();
            if carries_tone(&pcm) {
                return;
            }
        }
        panic!("{}: never heard the meeting", self.call_id);
    }
}

/// Whether most of the frame's energy is at the tone's frequency, and it
/// is not faint.
fn carries_tone(pcm: &[i16]) -> bool {
    let energy: f64 = pcm.iter().map(|&x| f64::from(x).powi(2)).sum();
    let rms = (energy / pcm.len() as f64).sqrt();
    rms > 1000.0 && tone_share(pcm, TONE_HZ, RATE) > 0.5
}

/// The room already in the meeting, playing the tone until `stop`.
fn speaker(gateway: SocketAddr, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let room = Room::new(gateway, 0);
        let (to, to_tag) = room.join();
        let mut codec = new_codec(AudioCodec::Pcmu, CodecOptions::default()).unwrap();
        let mut payload = Vec::new();
        let start = Instant::now();
        let mut frame = 0u32;
        while !stop.load(Ordering::Relaxed) {
            let pcm: Vec<i16> = (0..FRAME)
                .map(|i| {
                    let t = (frame as usize * FRAME + i) as f64 / f64::from(RATE);
                    (8000.0 * (2.0 * std::f64::consts::PI * TONE_HZ * t).sin()) as i16
                })
                .collect();
            payload.clear();
            let mut packet = vec![0x80, 0];
            packet.extend((frame as u16).to_be_bytes());
            packet.extend((frame * 160).to_be_bytes());
            packet.extend(0x5eed_u32.to_be_bytes());
            codec.encode(&pcm, &mut payload).unwrap();
            packet.extend(&payload);
            room.rtp.send_to(&packet, to).unwrap();
            frame += 1;
            let due = start + Duration::from_millis(20 * u64::from(frame));
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
        room.leave(&to_tag);
    })
}

/// JOINS rooms join, hear the meeting and leave; joins per second.
fn joins(gateway: SocketAddr) -> f64 {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..CONCURRENT)
        .map(|_| {
            let next = next.clone();
            std::thread::spawn(move || loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= JOINS {
                    return;
                }
                let room = Room::new(gateway, n + 1);
                let (leg, to_tag) = room.join();
                room.hear_tone(leg);
                room.leave(&to_tag);
            })
        })
        .collect();
    for w in workers {
        w.join().expect("every join succeeds");
    }
    JOINS as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let mra = Mra::start_with(&[
        ("MRA_MEDIA_PORT_MIN", "20000"),
        ("MRA_MEDIA_PORT_MAX", "29999"),
        ("RUST_LOG", "warn"),
    ]);
    mra.create_meeting(MEETING, None);
    let stop = Arc::new(AtomicBool::new(false));
    let speaking = speaker(mra.sip, stop.clone());
    mra.wait_calls("the speaking room in the meeting", |c| {
        c.len() == 1 && c[0]["state"] == "in-meeting"
    });
    let (mut through, mut direct) = (Vec::new(), Vec::new());
    let (uas, uas_addr) = sipp_uas();
    for _ in 0..ROUNDS {
        direct.push(sipp_uac(uas_addr, MEETING, JOINS, CONCURRENT));
        through.push(joins(mra.sip));
    }
    drop(uas);
    stop.store(true, Ordering::Relaxed);
    speaking.join().unwrap();
    println!("rounds, joins/s through mra: {through:.0?}; SIPp uac→uas setups/s: {direct:.0?}");
    let (t, d) = (median(through), median(direct));
    println!(
        "meeting joins/s ({JOINS} rooms, {CONCURRENT} at a time, each until it hears the meeting; \
         median of {ROUNDS}): {t:.0}; SIPp uac→uas direct {d:.0} (ratio {:.2}); goal {GOAL_JOINS_PER_SECOND:.0} \
         (ratio {:.2})",
        t / d,
        t / GOAL_JOINS_PER_SECOND
    );
}
