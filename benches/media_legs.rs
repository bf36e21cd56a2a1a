//! Transcoded audio legs per core, end to end: SIPp rooms in 10-party
//! meetings send speech-like audio from a pcap (G.711 µ-law, then Opus)
//! into `mra run`, which decodes, mixes and encodes for every leg. While all
//! legs are up we read the CPU time and resident memory of the `mra`
//! process from /proc, and print legs per core, CPU and memory per leg, and
//! the ratio to the goal of 200 G.711 legs per core.
//! Run: `cargo bench --bench media_legs`.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "support/process_stats.rs"]
mod process_stats;
#[path = "support/speech.rs"]
mod speech;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, free_ports, Mra};
use process_stats::{cpu_seconds, rss_kib};
use speech::speech;

use media::audio::{new_codec, CodecOptions};
use media_api::AudioCodec;

const MEETINGS: usize = 6;
const PARTY: usize = 10;
const CALL_SECONDS: u64 = 25;
/// Measured while every leg is up (joining takes a few seconds).
const WINDOW: Duration = Duration::from_secs(15);
const GOAL_G711_LEGS_PER_CORE: f64 = 200.0;

/// How one codec is offered and packetized.
struct Offer {
    name: &'static str,
    codec: AudioCodec,
    payload_type: u8,
    rtpmap: &'static str,
    /// RTP timestamp units per 20 ms.
    ticks: u32,
}

const OFFERS: [Offer; 2] = [
    Offer {
        name: "G.711 µ-law",
        codec: AudioCodec::Pcmu,
        payload_type: 0,
        rtpmap: "PCMU/8000",
        ticks: 160,
    },
    Offer {
        name: "Opus",
        codec: AudioCodec::Opus,
        payload_type: 111,
        rtpmap: "opus/48000/2",
        ticks: 960,
    },
];

/// Writes `seconds` of encoded speech as RTP in a pcap SIPp can play.
fn write_pcap(path: &Path, offer: &Offer, seconds: u64) {
    let mut codec = new_codec(offer.codec, CodecOptions::default()).unwrap();
    let mut out = Vec::new();
    // Global header: microsecond timestamps, Ethernet link type.
    for word in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
        if word == 0x0004_0002 {
            out.extend_from_slice(&2u16.to_le_bytes());
            out.extend_from_slice(&4u16.to_le_bytes());
        } else {
            out.extend_from_slice(&word.to_le_bytes());
        }
    }
    let mut payload = Vec::new();
    for n in 0..(seconds * 50) as usize {
        payload.clear();
        codec.encode(&speech(n), &mut payload).unwrap();
        let mut rtp = vec![0x80, offer.payload_type];
        rtp.extend_from_slice(&(n as u16).to_be_bytes());
        rtp.extend_from_slice(&(n as u32 * offer.ticks).to_be_bytes());
        rtp.extend_from_slice(&0x4d52_4131u32.to_be_bytes());
        rtp.extend_from_slice(&payload);
        let frame = ethernet_ipv4_udp(&rtp);
        let micros = n as u64 * 20_000;
        out.extend_from_slice(&((micros / 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&((micros % 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&frame);
    }
    std::fs::write(path, out).unwrap();
}

/// `payload` in UDP (port 6000 to 6002) in IPv4 on loopback in Ethernet.
fn ethernet_ipv4_udp(payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    let total = (20 + 8 + payload.len()) as u16;
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1]);
    let sum = ip
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum::<u32>();
    let sum = !(((sum & 0xffff) + (sum >> 16)) as u16);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&6000u16.to_be_bytes());
    f.extend_from_slice(&6002u16.to_be_bytes());
    f.extend_from_slice(&(8 + payload.len() as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    f
}

/// A SIPp scenario: dial `[service]`, offer only `offer`, talk from the pcap, hang up.
fn scenario(offer: &Offer, pcap: &Path) -> String {
    let pt = offer.payload_type;
    let rtpmap = offer.rtpmap;
    let pcap = pcap.display();
    let millis = CALL_SECONDS * 1000;
    let headers = "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport\n\
        From: <sip:room[call_number]@[local_ip]:[local_port]>;tag=[pid]T[call_number]\n\
        To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]\n\
        Call-ID: [call_id]\n\
        Contact: <sip:room@[local_ip]:[local_port]>\n\
        Max-Forwards: 70";
    format!(
        r#"<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="talking room">
  <send retrans="500"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
{headers}
CSeq: 1 INVITE
Content-Type: application/sdp
Content-Length: [len]

v=0
o=room 1 1 IN IP4 [local_ip]
s=-
c=IN IP4 [media_ip]
t=0 0
m=audio [media_port] RTP/AVP {pt}
a=rtpmap:{pt} {rtpmap}
a=sendrecv
  ]]></send>
  <recv response="100" optional="true"/>
  <recv response="200"/>
  <send><![CDATA[
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
{headers}
CSeq: 1 ACK
Content-Length: 0

  ]]></send>
  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>
  <pause milliseconds="{millis}"/>
  <send retrans="500"><![CDATA[
BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
{headers}
CSeq: 2 BYE
Content-Length: 0

  ]]></send>
  <recv response="200"/>
</scenario>
"#
    )
}

fn in_meeting(mra: &Mra) -> usize {
    let (_, body) = mra.http("GET", "/api/v1/calls", None);
    let calls: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap_or_default();
    calls.iter().filter(|c| c["state"] == "in-meeting").count()
}

/// `PARTY` SIPp rooms calling `meeting` at `gateway`.
fn rooms(scenario: &Path, meeting: &str, gateway: std::net::SocketAddr) -> Child {
    Command::new("sipp")
        .args(["-sf"])
        .arg(scenario)
        .args([
            "-s",
            meeting,
            "-i",
            "127.0.0.1",
            "-p",
            &free_port().to_string(),
        ])
        .args(["-mp", &free_ports(4).to_string()])
        .args(["-m", &PARTY.to_string(), "-l", &PARTY.to_string()])
        .args(["-r", "20", "-nostdin", "-timeout", "120s", "-timeout_error"])
        .arg(gateway.to_string())
        .current_dir(std::env::temp_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sipp (package sip-tester) must be installed")
}

fn main() {
    let legs = MEETINGS * PARTY;
    println!("{legs} legs in {MEETINGS} meetings of {PARTY}, {CALL_SECONDS} s calls");
    for offer in &OFFERS {
        let mra = Mra::start_with(&[
            ("MRA_MEDIA_PORT_MIN", "20000"),
            ("MRA_MEDIA_PORT_MAX", "29999"),
            ("RUST_LOG", "warn"),
        ]);
        let pid = mra.pid();
        let dir = tempfile::tempdir().unwrap();
        let pcap = dir.path().join("speech.pcap");
        write_pcap(&pcap, offer, CALL_SECONDS);
        let xml = dir.path().join("room.xml");
        std::fs::write(&xml, scenario(offer, &pcap)).unwrap();
        let rss_idle = rss_kib(pid);
        let mut sipps: Vec<Child> = (0..MEETINGS)
            .map(|m| {
                let number = format!("7000{m}");
                mra.create_meeting(&number, None);
                rooms(&xml, &number, mra.sip)
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(30);
        while in_meeting(&mra) < legs {
            assert!(Instant::now() < deadline, "not all legs joined");
        }
        // Measure with nothing else asking mra for anything: the admin API
        // is asked again only after the window.
        let (cpu0, wall0) = (cpu_seconds(pid), Instant::now());
        std::thread::sleep(WINDOW);
        let (cpu, wall) = (cpu_seconds(pid) - cpu0, wall0.elapsed().as_secs_f64());
        let rss = rss_kib(pid);
        assert_eq!(in_meeting(&mra), legs, "every leg lasted the window");
        for sipp in &mut sipps {
            assert!(sipp.wait().unwrap().success(), "a SIPp room failed");
        }
        let cores = cpu / wall;
        let per_core = legs as f64 / cores;
        let mem = (rss - rss_idle) / legs as f64;
        print!(
            "{}: {:.1} % of a core per leg, {per_core:.0} legs/core, {mem:.0} KiB per leg (over {wall:.1} s)",
            offer.name,
            100.0 * cores / legs as f64
        );
        if offer.codec == AudioCodec::Pcmu {
            print!(
                ", {:.2}× the goal of {GOAL_G711_LEGS_PER_CORE:.0}",
                per_core / GOAL_G711_LEGS_PER_CORE
            );
        }
        println!();
    }
}
