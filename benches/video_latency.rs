//! Video latency, room → browser, as a participant sees it: a room (an
//! H.323 call the bench scripts, proposing H.264 in fast start) sends a
//! solid picture from openh264 at 30 fps and switches its colour between
//! red and blue every 1.5 s; headless Chromium, in the meeting, times each
//! frame its page presents (requestVideoFrameCallback) and notes when the
//! room's tile changes colour. The latency of a switch is the wall-clock
//! time from the room sending the switching frame's first packet to the
//! browser presenting it: MRA (receive, forward as the room's track,
//! SRTP), the meeting service's forwarding, and Chromium's jitter buffer,
//! decode and compositing, all on one machine. Prints the median, 90th
//! percentile and worst of the switches.
//! Run: `cargo bench --bench video_latency`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::browser::{page, tile_id, Browsers};
use common::h323_room::{rtp_pair, H323Room, VIDEO_PT as PT};
use common::{isolate_network, Mra};
use media::video::{black, fill, Output, VideoEncoder};
use media_api::{SendMode, VideoCodec};
use rtc_rtp::Header;
use rtc_shared::marshal::Marshal;

const SWITCHES: usize = 12;
const SWITCH_EVERY: Duration = Duration::from_millis(1500);
/// YUV of the two colours (BT.601 red and blue).
const RED: [u8; 3] = [81, 90, 240];
const BLUE: [u8; 3] = [41, 240, 110];

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1000.0
}

/// Sends the room's camera to `to` until `stop`: red and blue in turns,
/// a keyframe a second; each switch's colour and sending time (ms) is
/// kept in `switches`.
fn camera(
    socket: UdpSocket,
    to: SocketAddr,
    stop: Arc<AtomicBool>,
    switches: Arc<Mutex<Vec<(&'static str, f64)>>>,
) {
    let mode = SendMode {
        width: 640,
        height: 360,
        fps: 30,
    };
    let mut encoder = VideoEncoder::new(Output {
        codec: VideoCodec::H264,
        packetization_mode: 1,
        mode,
        kbps: 800,
    })
    .unwrap();
    let mut picture = black(mode.width, mode.height);
    let (mut sequence, ssrc) = (0u16, 0x1234_5678);
    let start = Instant::now();
    let mut colour = ("red", RED);
    let mut switched = start;
    let mut keyframe = start;
    for n in 0u64.. {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let due = start + Duration::from_millis(n * 1000 / 30);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        let now = Instant::now();
        let switch = now.duration_since(switched) >= SWITCH_EVERY;
        if switch {
            switched = now;
            colour = if colour.0 == "red" {
                ("blue", BLUE)
            } else {
                ("red", RED)
            };
        }
        if now.duration_since(keyframe) >= Duration::from_secs(1) {
            keyframe = now;
            encoder.want_keyframe();
        }
        fill(&mut picture, colour.1);
        let Some(frame) = encoder.encode(&picture, n * 1000 / 30).unwrap() else {
            continue;
        };
        let sent_at = now_ms();
        let last = frame.payloads.len() - 1;
        for (i, payload) in frame.payloads.iter().enumerate() {
            let header = Header {
                version: 2,
                marker: i == last,
                payload_type: PT,
                sequence_number: sequence,
                timestamp: frame.timestamp,
                ssrc,
                ..Header::default()
            };
            sequence = sequence.wrapping_add(1);
            let mut packet = header.marshal().unwrap().to_vec();
            packet.extend_from_slice(payload);
            let _ = socket.send_to(&packet, to);
        }
        if switch {
            switches.lock().unwrap().push((colour.0, sent_at));
        }
    }
}

fn main() {
    isolate_network();
    let mra = Mra::start();
    mra.create_meeting("123456789", None);
    let mut browsers = Browsers::start();
    browsers.open("viewer", &page(&mra), None);
    browsers.join("viewer", "123456789", "", "Viewer").unwrap();

    let mut room = H323Room::connect(mra.h225);
    let (video, video_rtcp) = rtp_pair();
    let (rtp, rtcp) = (
        video.local_addr().unwrap(),
        video_rtcp.local_addr().unwrap(),
    );
    let (_call, video_to) = room.video_call("123456789", "Latency room", rtp, rtcp);

    let stop = Arc::new(AtomicBool::new(false));
    let switches = Arc::new(Mutex::new(Vec::new()));
    let sender = {
        let (stop, switches) = (stop.clone(), switches.clone());
        std::thread::spawn(move || camera(video, video_to, stop, switches))
    };
    let tile = tile_id(&mut browsers, "viewer", "Latency room");
    browsers.wait(
        "the browser showing the room's camera",
        |b| b.tile_colour("viewer", &tile),
        |rgb| rgb.is_some(),
    );
    browsers.watch("viewer", &tile);
    switches.lock().unwrap().clear();
    std::thread::sleep(SWITCH_EVERY * (SWITCHES as u32 + 1));
    stop.store(true, Ordering::Relaxed);
    sender.join().unwrap();

    let seen = browsers.changes("viewer");
    let mut latencies: Vec<f64> = switches
        .lock()
        .unwrap()
        .iter()
        .filter_map(|&(colour, sent)| {
            let shown = seen
                .iter()
                .find(|(c, at)| c.as_str() == colour && *at >= sent)?;
            Some(shown.1 - sent)
        })
        .collect();
    assert!(
        latencies.len() >= SWITCHES / 2,
        "the browser saw {} of the room's colour switches: {seen:?}",
        latencies.len()
    );
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    println!(
        "video latency room → browser over {} switches: median {:.0} ms, p90 {:.0} ms, worst {:.0} ms",
        latencies.len(),
        at(0.5),
        at(0.9),
        latencies.last().unwrap()
    );
}
