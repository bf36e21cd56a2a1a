//! The captures of an independent H.323 stack in
//! `../shared/vectors/h323/captures` read through our layers: every TCP
//! stream cuts into TPKT packets; on the call-signalling port each is a
//! Q.931 message that re-encodes to the same bytes and whose User-user
//! element decodes as H323-UserInformation, with its fast-start and
//! tunnelled H.245 content decoding too; on the H.245 connection each is a
//! MultimediaSystemControlMessage; and the RAS datagram is a RasMessage.

// Not every shared pcap helper is used here.
#[allow(dead_code)]
#[path = "../../tests/common/pcap.rs"]
mod pcap;

use std::net::SocketAddr;
use std::path::PathBuf;

use h323_asn1::h225::ReleaseCompleteReason;
use h323_asn1::{decode, h225, h245};
use media_api::{AudioCodec, BoundStream, StreamKind, VideoCodec};
use signaling::h323::fast_start;
use signaling::h323::h225_call::{Event, H225Call};
use signaling::h323::q931::{cause, MessageType, Q931};
use signaling::h323::tpkt::{frame, TpktReader};

fn capture_path(name: &str) -> PathBuf {
    // Read at run time, not build time (a shared CARGO_TARGET_DIR may
    // hold a binary built in another checkout).
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo"))
        .join("../../shared/vectors/h323/captures")
        .join(name)
}

fn capture(name: &str) -> Vec<pcap::Segment> {
    pcap::segments(&capture_path(name))
}

/// TPKT payloads per TCP direction.
fn streams(name: &str) -> Vec<pcap::TpktStream> {
    pcap::tpkt_streams(&capture_path(name))
}

fn h245_message(bytes: &[u8]) -> h245::MultimediaSystemControlMessage {
    decode(bytes).unwrap_or_else(|e| panic!("H.245 {bytes:02x?}: {e}"))
}

/// What one call-signalling packet carried.
struct Read {
    kind: MessageType,
    fast_start: usize,
}

fn call_signalling(packet: &[u8]) -> Read {
    let q931 = Q931::parse(packet).expect("Q.931");
    assert_eq!(q931.encode(), packet, "Q.931 re-encodes byte for byte");
    let uu: h225::H323UserInformation = decode(q931.user_user().expect("User-user")).expect("UUIE");
    let pdu = uu.h323_uu_pdu;
    use h225::H323UUPDUH323MessageBody as Body;
    let fast_start = match &pdu.h323_message_body {
        Body::setup(s) => s.fast_start.clone(),
        Body::callProceeding(s) => s.fast_start.clone(),
        Body::alerting(s) => s.fast_start.clone(),
        Body::connect(s) => s.fast_start.clone(),
        _ => None,
    }
    .unwrap_or_default();
    for olc in &fast_start {
        let _: h245::OpenLogicalChannel = decode(olc).expect("fastStart OLC");
    }
    for m in pdu.h245_control.unwrap_or_default() {
        h245_message(&m);
    }
    Read {
        kind: q931.kind,
        fast_start: fast_start.len(),
    }
}

#[test]
fn a_fast_start_tunnelled_call_reads_through_every_layer() {
    let streams = streams("faststart-tunneled-call.pcap");
    let (caller, answers) = (&streams[0].1, &streams[1].1);
    let setup = call_signalling(&caller[0]);
    assert_eq!(setup.kind, MessageType::Setup);
    assert!(setup.fast_start > 0, "the Setup offers fast-start channels");
    let read: Vec<Read> = answers.iter().map(|p| call_signalling(p)).collect();
    assert_eq!(
        read.iter().map(|r| r.kind).collect::<Vec<_>>(),
        [
            MessageType::CallProceeding,
            MessageType::Alerting,
            MessageType::Connect
        ]
    );
    assert!(read[2].fast_start > 0, "the Connect answers fast start");
}

#[test]
fn a_call_with_a_separate_h245_connection_reads_through_every_layer() {
    let mut kinds = Vec::new();
    let mut h245_packets = 0;
    for ((from, to), packets) in streams("separate-h245-call.pcap") {
        for p in packets {
            if from.port() == 1720 || to.port() == 1720 {
                kinds.push(call_signalling(&p).kind);
            } else {
                h245_message(&p);
                h245_packets += 1;
            }
        }
    }
    assert_eq!(kinds[0], MessageType::Setup);
    assert!(kinds.contains(&MessageType::Connect), "{kinds:?}");
    assert!(h245_packets >= 10, "{h245_packets} H.245 messages");
}

#[test]
fn the_gatekeeper_request_is_a_ras_message() {
    let grq = capture("ras-grq.pcap");
    assert_eq!(grq.len(), 1);
    let ras: h225::RasMessage = decode(&grq[0].payload).expect("RAS");
    assert!(matches!(ras, h225::RasMessage::gatekeeperRequest(_)));
}

#[test]
fn the_recorded_setup_is_answered_in_a_way_tshark_reads_cleanly() {
    let streams = streams("faststart-tunneled-call.pcap");
    let ((caller, us), packets) = &streams[0];
    let mut call = H225Call::new();
    let (events, replies) = call.receive(&packets[0]);
    assert!(replies.is_empty());
    let Some(Event::Setup(setup)) = events.first() else {
        panic!("no Setup event: {events:?}")
    };
    assert_eq!(setup.dial, None, "the recorded Setup names no destination");
    assert_eq!(setup.caller, "gwtest", "the Display IE names the caller");
    assert_eq!(setup.fast_start.len(), 4);
    assert!(setup.h245_tunnelling);

    let h245 = "127.0.0.2:30000".parse().unwrap();
    let bound = |kind, port| BoundStream {
        kind,
        rtp: SocketAddr::from(([127, 0, 0, 2], port)),
        rtcp: SocketAddr::from(([127, 0, 0, 2], port + 1)),
        dtls_fingerprint: None,
    };
    let (audio, video) = (
        bound(StreamKind::Audio, 40000),
        bound(StreamKind::Video, 40002),
    );
    let codecs = [AudioCodec::G722, AudioCodec::Pcmu, AudioCodec::Pcma];
    let taken = [VideoCodec::H264, VideoCodec::H263];
    let fast = fast_start::answer(&setup.fast_start, &codecs, audio, Some((video, &taken)))
        .expect("G.711 both ways");
    assert_eq!(
        fast.agreed.codec,
        AudioCodec::Pcmu,
        "the only audio codec proposed"
    );
    assert_eq!(
        fast.agreed.room_rtp,
        "127.0.0.3:5000".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(
        fast.agreed.room_rtcp,
        Some("127.0.0.3:5001".parse::<SocketAddr>().unwrap())
    );
    assert_eq!(fast.answers.len(), 4, "audio and H.264 video, both ways");
    // Its H.264 (H.241 generic capability): baseline, level 3.1, 1 Mbit/s,
    // single NAL units; sent to its port 6000, received from channel 1004.
    let video = fast.agreed.video.expect("the caller's H.264 proposals");
    let (to_room, rtp, rtcp) = video.to_room.expect("it receives H.264");
    assert_eq!(
        (to_room.codec.profile_level_id(), to_room.mode),
        (Some([0x42, 0, 31]), 0)
    );
    assert_eq!(to_room.codec.limits().max_kbps, Some(1024));
    assert_eq!(rtp, "127.0.0.3:6000".parse::<SocketAddr>().unwrap());
    assert_eq!(rtcp, Some("127.0.0.3:6001".parse::<SocketAddr>().unwrap()));
    let (channel, from_room) = video.from_room.expect("it sends H.264");
    assert_eq!((channel, from_room.payload_type), (1004, 109));
    let answers = [
        call.proceeding(None),
        call.alerting(),
        call.connect(fast.answers.clone(), Some(h245), "Weekly meeting"),
        call.release(
            cause::NORMAL_CLEARING,
            ReleaseCompleteReason::undefinedReason(()),
        ),
    ];
    let read: Vec<Read> = answers.iter().map(|a| call_signalling(a)).collect();
    assert_eq!(
        read.iter().map(|r| r.kind).collect::<Vec<_>>(),
        [
            MessageType::CallProceeding,
            MessageType::Alerting,
            MessageType::Connect,
            MessageType::ReleaseComplete
        ]
    );
    let connect = Q931::parse(&answers[2]).unwrap();
    assert_eq!(connect.call_ref, Q931::parse(&packets[0]).unwrap().call_ref);
    assert!(connect.from_destination);
    assert_eq!(connect.display().as_deref(), Some("Weekly meeting"));

    // What another stack would make of it.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h225.pcap");
    let mut wire = vec![(*caller, *us, frame(&packets[0]))];
    wire.extend(answers.iter().map(|a| (*us, *caller, frame(a))));
    pcap::write(&path, pcap::Transport::Tcp, &wire);
    assert_eq!(pcap::tshark_complaints(&path, &[]), "");
    let summary = pcap::tshark_read(&path, &[], &[]);
    for kind in ["callProceeding", "alerting", "connect", "releaseComplete"] {
        assert!(summary.contains(&format!("CS: {kind}")), "{summary}");
    }
    let fields = pcap::tshark_read(&path, &[], &["q931.cause_value", "h225.h245Ip"]);
    let lines: Vec<&str> = fields.lines().collect();
    assert_eq!(
        lines[3], "\t127.0.0.2",
        "the Connect's H.245 address: {fields}"
    );
    assert_eq!(lines[4], "16\t", "the release cause: {fields}");
    let channels = pcap::tshark_read(
        &path,
        &[],
        &["h245.forwardLogicalChannelNumber", "h245.tsapIdentifier"],
    );
    assert_eq!(
        channels.lines().nth(3),
        Some("1001,1002,1003,1004\t40001,40000,40001,40003,40002,40003"),
        "the caller's receive channels get our RTCP, its send channels our RTP and RTCP \
         (audio, then video): {channels}"
    );
}

#[test]
fn the_recorded_h245_side_of_a_call_is_answered_in_a_way_tshark_reads_cleanly() {
    use signaling::h323::h245::{H245Event, H245Session};
    use signaling::h323::msd::Decision;

    // The caller's messages on its separate H.245 connection.
    let (caller_dir, packets) = streams("separate-h245-call.pcap")
        .into_iter()
        .find(|((from, to), _)| {
            from.port() != 1720
                && to.port() != 1720
                && from.ip() == std::net::IpAddr::from([127, 0, 0, 3])
        })
        .expect("the caller's H.245 stream");
    let rtp = "127.0.0.2:40000".parse().unwrap();
    let rtcp = "127.0.0.2:40001".parse().unwrap();
    let mut session = H245Session::new(vec![AudioCodec::Pcmu, AudioCodec::Pcma], rtp, rtcp, 4711);
    let mut wire: Vec<(SocketAddr, SocketAddr, Vec<u8>)> = session
        .start()
        .into_iter()
        .map(|m| (caller_dir.1, caller_dir.0, frame(&m)))
        .collect();
    let mut events = Vec::new();
    for p in &packets {
        wire.push((caller_dir.0, caller_dir.1, frame(p)));
        let (e, replies) = session.receive(p);
        events.extend(e);
        wire.extend(
            replies
                .iter()
                .map(|r| (caller_dir.1, caller_dir.0, frame(r))),
        );
    }
    assert!(
        events.contains(&H245Event::RemoteCapabilities(vec![AudioCodec::Pcmu])),
        "{events:?}"
    );
    assert!(
        events.contains(&H245Event::Role(Decision::Master)),
        "an MCU outranks a terminal: {events:?}"
    );
    assert!(
        events.iter().any(|e| matches!(
            e,
            H245Event::AudioFromRoom {
                codec: AudioCodec::Pcmu,
                ..
            }
        )),
        "{events:?}"
    );
    assert_eq!(events.last(), Some(&H245Event::EndSession));

    // Garbage gets functionNotSupported, and the session goes on.
    let (e, replies) = session.receive(&[0xff, 0xff, 0xff]);
    assert!(e.is_empty());
    let reply: h245::MultimediaSystemControlMessage = decode(&replies[0]).unwrap();
    assert!(matches!(
        reply,
        h245::MultimediaSystemControlMessage::indication(
            h245::IndicationMessage::functionNotSupported(_)
        )
    ));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h245.pcap");
    pcap::write(&path, pcap::Transport::Tcp, &wire);
    let decode_as = format!("tcp.port=={},h245", caller_dir.1.port());
    assert_eq!(pcap::tshark_complaints(&path, &[&decode_as]), "");
    let summary = pcap::tshark_read(&path, &[&decode_as], &[]);
    for kind in [
        "terminalCapabilitySetAck",
        "masterSlaveDeterminationAck",
        "openLogicalChannelAck",
    ] {
        assert!(summary.contains(kind), "{summary}");
    }
    // The room is told to send its audio to our RTP address.
    let fields = pcap::tshark_read(
        &path,
        &[&decode_as],
        &["h245.network", "h245.tsapIdentifier"],
    );
    assert!(fields.contains("40000"), "{fields}");
}

/// A small deterministic generator for the mutations below.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// `seed` with a few random bit flips, byte changes, cuts or repeats.
fn mutate(rng: &mut XorShift, seed: &[u8]) -> Vec<u8> {
    let mut m = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        match rng.below(4) {
            0 if !m.is_empty() => {
                let i = rng.below(m.len());
                m[i] ^= 1 << rng.below(8);
            }
            1 if !m.is_empty() => {
                let i = rng.below(m.len());
                m[i] = rng.next() as u8;
            }
            2 => m.truncate(rng.below(m.len() + 1)),
            _ => {
                let i = rng.below(m.len() + 1);
                let j = i + rng.below(m.len() - i + 1);
                let piece = m[i..j].to_vec();
                m.extend(piece);
            }
        }
    }
    m
}

/// The fuzz targets' paths (fuzz/, run with `cargo fuzz`), exercised in
/// every test run with mutations of the recorded messages: call
/// signalling, H.245 and RAS must answer or ignore, never panic, and what
/// they answer must decode.
#[test]
fn mutated_recorded_messages_never_bring_the_layers_down() {
    use media_api::AudioCodec;
    use signaling::h323::h245::H245Session;

    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut q931_seeds = Vec::new();
    let mut h245_seeds = Vec::new();
    for name in ["faststart-tunneled-call.pcap", "separate-h245-call.pcap"] {
        for ((from, to), packets) in streams(name) {
            if from.port() == 1720 || to.port() == 1720 {
                q931_seeds.extend(packets);
            } else {
                h245_seeds.extend(packets);
            }
        }
    }
    let ras_seed = capture("ras-grq.pcap").remove(0).payload;
    let addr = SocketAddr::from(([127, 0, 0, 1], 40000));
    for _ in 0..4000 {
        let seed = &q931_seeds[rng.below(q931_seeds.len())];
        let mut call = H225Call::new();
        let mut reader = TpktReader::default();
        reader.push(&frame(seed));
        reader.push(&mutate(&mut rng, &frame(seed)));
        while let Ok(Some(packet)) = reader.next_packet() {
            for reply in call.receive(&packet).1 {
                Q931::parse(&reply).expect("our answer parses");
            }
        }

        let seed = &h245_seeds[rng.below(h245_seeds.len())];
        let mut session = H245Session::new(vec![AudioCodec::Pcmu], addr, addr, 1);
        for reply in session.receive(&mutate(&mut rng, seed)).1 {
            h245_message(&reply);
        }

        if let Ok(ras) = decode::<h225::RasMessage>(&mutate(&mut rng, &ras_seed)) {
            h323_asn1::encode(&ras).expect("what decodes encodes");
        }
    }
}
