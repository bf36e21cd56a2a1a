//! What encryption costs, side by side in one run against one `mra run`:
//! (1) call setups per second over SIP/TLS (a full TLS handshake per
//! call, SDES keys in the offer) against SIP/TCP (a connection per call,
//! in clear), with TLS handshakes alone for the handshake's share;
//! (2) SRTP's share of the media CPU: the same legs in 10-party meetings
//! (G.711 speech both ways, every room owed 50 packets a second) in clear
//! over TCP signaling, then with SDES over TLS (AES_CM_128_HMAC_SHA1_80),
//! the `mra` process's CPU read from /proc while every leg is up.
//! SIPp has no TLS (and its pcap play no SRTP), so the rooms here are the
//! benchmark's own callers and senders.
//! Run: `cargo bench --bench encrypted_calls`.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "support/process_stats.rs"]
mod process_stats;
#[path = "support/sip_caller.rs"]
mod sip_caller;
#[path = "support/speech.rs"]
mod speech;

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use common::Mra;
use media::audio::new_codec;
use media_api::{AudioCodec, CodecOptions};
use process_stats::{cpu_seconds, rss_kib};
use rtc_srtp::context::Context;
use rtc_srtp::protection_profile::ProtectionProfile;
use sip_caller::{Call, Caller};

const CALLS: usize = 1000;
const CONCURRENT: usize = 50;
const HANDSHAKES: usize = 2000;
const ROUNDS: usize = 5;
const MEETINGS: usize = 6;
const PARTY: usize = 10;
/// Measured once every leg has been up this long.
const SETTLE: Duration = Duration::from_secs(3);
const WINDOW: Duration = Duration::from_secs(10);
const MEDIA_ROUNDS: usize = 3;
/// The rooms' SDES master key and salt (30 bytes).
const ROOM_KEY: [u8; 30] = [7; 30];

/// A clear offer of G.711 µ-law at `port`, or one with our SDES key.
fn offer(port: u16, secure: bool) -> String {
    let (proto, crypto) = if secure {
        let key = base64::engine::general_purpose::STANDARD.encode(ROOM_KEY);
        (
            "RTP/SAVP",
            format!("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{key}\r\n"),
        )
    } else {
        ("RTP/AVP", String::new())
    };
    format!(
        "v=0\r\no=bench 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} {proto} 0\r\na=rtpmap:0 PCMU/8000\r\n{crypto}a=sendrecv\r\n"
    )
}

/// Where an answer wants RTP.
fn answered_rtp(answer: &str) -> SocketAddr {
    let ip = answer
        .lines()
        .find_map(|l| l.strip_prefix("c=IN IP4 "))
        .expect("c=");
    let port = answer
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|m| m.split(' ').next())
        .expect("m=audio");
    format!("{}:{port}", ip.trim()).parse().unwrap()
}

/// Runs `each` `count` times on `CONCURRENT` threads; per second.
fn per_second(count: usize, each: impl Fn() + Sync) -> f64 {
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..CONCURRENT {
            s.spawn(|| {
                while next.fetch_add(1, Ordering::Relaxed) < count {
                    each();
                }
            });
        }
    });
    count as f64 / started.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Call setups (INVITE to BYE answered) per second through `caller`.
fn setups(caller: &Caller, secure: bool) -> f64 {
    per_second(CALLS, || {
        caller.call("123456789", &offer(9, secure)).hang_up()
    })
}

/// One room's media: its socket, where it sends, and (with SDES) what
/// protects what it sends.
struct Room {
    call: Call,
    socket: UdpSocket,
    to: SocketAddr,
    srtp: Option<Context>,
    received: u64,
}

/// What a media round measured.
struct MediaRound {
    /// Cores the `mra` process used while every leg was up.
    cores: f64,
    kib_per_leg: f64,
    /// The least of the rooms' packets received per second.
    worst_pps: f64,
}

/// `MEETINGS` meetings of `PARTY` rooms talking for the window, over TLS
/// with SDES when `secure`, else in clear over TCP.
fn media_round(mra: &Mra, secure: bool) -> MediaRound {
    let caller = if secure {
        Caller::tls(mra.sip_tls)
    } else {
        Caller::tcp(mra.sip)
    };
    let pid = mra.pid();
    let rss_idle = rss_kib(pid);
    let mut rooms: Vec<Room> = (0..MEETINGS * PARTY)
        .map(|i| {
            let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
            socket.set_nonblocking(true).unwrap();
            let port = socket.local_addr().unwrap().port();
            let call = caller.call(&format!("7000{}", i / PARTY), &offer(port, secure));
            let to = answered_rtp(&call.answer);
            let srtp = secure.then(|| {
                Context::new(
                    &ROOM_KEY[..16],
                    &ROOM_KEY[16..],
                    ProtectionProfile::Aes128CmHmacSha1_80,
                    None,
                    None,
                    &rtc_crypto::providers::RingCrypto,
                )
                .unwrap()
            });
            Room {
                call,
                socket,
                to,
                srtp,
                received: 0,
            }
        })
        .collect();
    let legs = rooms.len();
    mra.wait_calls("every leg in its meeting", |c| {
        c.len() == legs && c.iter().all(|c| c["state"] == "in-meeting")
    });
    let mut codec = new_codec(AudioCodec::Pcmu, CodecOptions::default()).unwrap();
    let frames: Vec<Vec<u8>> = (0..50)
        .map(|n| {
            let mut payload = Vec::new();
            codec.encode(&speech::speech(n), &mut payload).unwrap();
            payload
        })
        .collect();
    let started = Instant::now();
    let (mut cpu0, mut window_start, mut measuring) = (0.0, started, false);
    let mut buf = [0u8; 1500];
    for tick in 0u32.. {
        let at = started + Duration::from_millis(20) * tick;
        if let Some(wait) = at.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let elapsed = at - started;
        if !measuring && elapsed >= SETTLE {
            (cpu0, window_start, measuring) = (cpu_seconds(pid), Instant::now(), true);
            rooms.iter_mut().for_each(|r| r.received = 0);
        }
        if elapsed >= SETTLE + WINDOW {
            break;
        }
        for (i, room) in rooms.iter_mut().enumerate() {
            let mut rtp = vec![0x80, 0];
            rtp.extend_from_slice(&(tick as u16).to_be_bytes());
            rtp.extend_from_slice(&(tick * 160).to_be_bytes());
            rtp.extend_from_slice(&(0x5000 + i as u32).to_be_bytes());
            rtp.extend_from_slice(&frames[tick as usize % frames.len()]);
            let packet = match room.srtp.as_mut() {
                Some(srtp) => srtp.encrypt_rtp(&rtp).unwrap().to_vec(),
                None => rtp,
            };
            let _ = room.socket.send_to(&packet, room.to);
            while room.socket.recv_from(&mut buf).is_ok() {
                room.received += 1;
            }
        }
    }
    let wall = window_start.elapsed().as_secs_f64();
    let cores = (cpu_seconds(pid) - cpu0) / wall;
    let kib_per_leg = (rss_kib(pid) - rss_idle) / legs as f64;
    let worst = rooms.iter().map(|r| r.received).min().unwrap_or(0);
    for room in rooms {
        room.call.hang_up();
    }
    mra.wait_calls("every leg gone", |c| c.is_empty());
    MediaRound {
        cores,
        kib_per_leg,
        worst_pps: worst as f64 / wall,
    }
}

fn main() {
    let mra = Mra::start_with(&[
        ("MRA_MEDIA_PORT_MIN", "20000"),
        ("MRA_MEDIA_PORT_MAX", "29999"),
        ("MRA_SIP_TLS_MAX_CONNECTIONS_PER_SOURCE", "4096"),
        ("RUST_LOG", "warn"),
    ]);
    mra.create_meeting("123456789", None);
    for m in 0..MEETINGS {
        mra.create_meeting(&format!("7000{m}"), None);
    }
    let (tcp, tls) = (Caller::tcp(mra.sip), Caller::tls(mra.sip_tls));
    let (mut over_tcp, mut over_tls, mut handshakes) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        over_tcp.push(setups(&tcp, false));
        over_tls.push(setups(&tls, true));
        handshakes.push(per_second(HANDSHAKES, || tls.handshake()));
    }
    println!("rounds, TCP: {over_tcp:.0?}; TLS: {over_tls:.0?}; TLS handshakes: {handshakes:.0?}");
    let (t, s, h) = (median(over_tcp), median(over_tls), median(handshakes));
    println!(
        "call setups/s ({CALLS} calls, a connection each, {CONCURRENT} concurrent, median of {ROUNDS}): \
         over TCP {t:.0}, over TLS with SDES {s:.0}, ratio {:.2}; TLS handshakes alone {h:.0}/s \
         ({:.0} % of a TLS call's time)",
        s / t,
        100.0 * s / h
    );
    let (mut clear, mut sdes) = (Vec::new(), Vec::new());
    for _ in 0..MEDIA_ROUNDS {
        clear.push(media_round(&mra, false));
        sdes.push(media_round(&mra, true));
    }
    let legs = (MEETINGS * PARTY) as f64;
    let report = |name: &str, rounds: &[MediaRound]| {
        let cores = median(rounds.iter().map(|r| r.cores).collect());
        let kib = median(rounds.iter().map(|r| r.kib_per_leg).collect());
        let worst = rounds.iter().map(|r| r.worst_pps).fold(f64::MAX, f64::min);
        println!(
            "{name}: {:.2} % of a core per leg, {:.0} legs/core, {kib:.0} KiB per leg, \
             every room got ≥ {worst:.1} packets/s",
            100.0 * cores / legs,
            legs / cores
        );
        cores
    };
    let (c, e) = (
        report("G.711 in clear (TCP)", &clear),
        report("G.711 with SDES-SRTP (TLS)", &sdes),
    );
    println!(
        "SRTP's share of the media CPU ({} legs in {MEETINGS} meetings, median of {MEDIA_ROUNDS}): {:.1} %",
        MEETINGS * PARTY,
        100.0 * (e - c) / e
    );
}
