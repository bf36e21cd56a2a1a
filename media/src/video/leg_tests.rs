//! The video leg against a room on loopback sockets: NACKs asked and
//! answered, TMMBR caps told back.

use std::time::Duration;

use rtc_rtcp::transport_feedbacks::transport_layer_nack::NackPair;
use rtc_shared::marshal::Marshal;

use super::super::encode::EncodedFrame;
use super::*;
use media_api::{Direction, Feedback, PayloadTypes, VideoFormat, VideoLimits};

/// A room's RTP and RTCP sockets, and a leg's, on loopback.
struct Line {
    room_rtp: UdpSocket,
    room_rtcp: UdpSocket,
    leg: VideoLeg,
    params: VideoParams,
    buf: Vec<u8>,
}

const OURS: u32 = 0x5151;
const THEIRS: u32 = 0x7777;
const ID: LegId = LegId(1);

fn socket(blocking: bool) -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_nonblocking(!blocking).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s
}

fn line(feedback: Feedback) -> Line {
    let (room_rtp, room_rtcp) = (socket(true), socket(true));
    let mut accepted = PayloadTypes::default();
    accepted.insert(97);
    let params = VideoParams {
        format: VideoFormat {
            codec: VideoCodec::H264,
            profile_level_id: Some([0x42, 0xe0, 0x1f]),
            packetization_mode: 1,
            limits: VideoLimits::HD1080,
            feedback,
            accepted,
        },
        payload_type: 97,
        remote_rtp: Some(room_rtp.local_addr().unwrap()),
        remote_rtcp: Some(room_rtcp.local_addr().unwrap()),
        direction: Direction::SendRecv,
        rtcp_mux: false,
        bandwidth_kbps: Some(2048),
    };
    let mut leg = VideoLeg::new(socket(false), socket(false), OURS);
    leg.configure(ID, Some(params), None, &DtlsIdentity::generate().unwrap());
    Line {
        room_rtp,
        room_rtcp,
        leg,
        params,
        buf: vec![0; 2048],
    }
}

impl Line {
    /// The room sends the leg RTP (`rtcp`: RTCP) and the leg reads it.
    fn room_sends(&mut self, bytes: &[u8], rtcp: bool) {
        let from = if rtcp {
            &self.room_rtcp
        } else {
            &self.room_rtp
        };
        let to = if rtcp { &self.leg.rtcp } else { &self.leg.rtp };
        from.send_to(bytes, to.local_addr().unwrap()).unwrap();
        self.leg.drain(ID, rtcp, &mut self.buf);
    }

    fn room_receives(&self, rtcp: bool) -> Vec<u8> {
        let socket = if rtcp {
            &self.room_rtcp
        } else {
            &self.room_rtp
        };
        let mut buf = [0u8; 2048];
        let (n, _) = socket.recv_from(&mut buf).expect("a packet for the room");
        buf[..n].to_vec()
    }
}

fn camera_packet(sequence: u16) -> Vec<u8> {
    let header = Header {
        version: 2,
        payload_type: 97,
        sequence_number: sequence,
        timestamp: 3000,
        ssrc: THEIRS,
        ..Header::default()
    };
    let mut packet = header.marshal().unwrap().to_vec();
    packet.extend_from_slice(&[0x41, 0x9a, 0x00]); // a P slice
    packet
}

#[test]
fn lost_packets_are_asked_for_and_those_asked_of_us_sent_again() {
    let feedback = Feedback {
        nack: true,
        pli: true,
        ..Feedback::default()
    };
    let mut line = line(feedback);
    for sequence in [1, 2, 4] {
        line.room_sends(&camera_packet(sequence), false);
    }
    line.leg
        .tick(ID, Instant::now() + Duration::from_millis(100));
    let rtcp = line.room_receives(true);
    let packets = rtc_rtcp::packet::unmarshal(&mut &rtcp[..]).unwrap();
    let nack = packets[1]
        .as_any()
        .downcast_ref::<TransportLayerNack>()
        .expect("a NACK after a receiver report");
    assert_eq!((nack.sender_ssrc, nack.media_ssrc), (OURS, THEIRS));
    assert_eq!(
        (nack.nacks[0].packet_id, nack.nacks[0].lost_packets),
        (3, 0)
    );

    // The meeting's picture goes out in three packets; the room asks
    // for the second again and gets it as it was.
    let frame = EncodedFrame {
        payloads: vec![
            Bytes::from_static(&[0x67, 1]),
            Bytes::from_static(&[0x68, 2]),
            Bytes::from_static(&[0x65, 3]),
        ],
        keyframe: true,
        timestamp: 9000,
    };
    let sent = SentFrame {
        frame: Arc::new(frame),
        output: Output::for_room(&line.params, None),
        sharing: 1,
    };
    line.leg.send_frame(&sent);
    let first: Vec<Vec<u8>> = (0..3).map(|_| line.room_receives(false)).collect();
    let second = Header::unmarshal(&mut &first[1][..]).unwrap();
    assert_eq!(second.ssrc, OURS);
    let nack = TransportLayerNack {
        sender_ssrc: THEIRS,
        media_ssrc: OURS,
        nacks: vec![NackPair {
            packet_id: second.sequence_number,
            lost_packets: 0,
        }],
    };
    line.room_sends(&nack.marshal().unwrap(), true);
    assert_eq!(line.room_receives(false), first[1], "sent again as it was");

    let stats = line.leg.stats();
    assert_eq!(
        (
            stats.nacks_sent,
            stats.nacks_received,
            stats.packets_retransmitted
        ),
        (1, 1, 1)
    );
}

#[test]
fn a_tmmbr_caps_what_the_room_is_sent_and_is_notified_back() {
    let feedback = Feedback {
        fir: true,
        tmmbr: true,
        ..Feedback::default()
    };
    let mut line = line(feedback);
    // Poly's TMMBR for our stream at 300 kbit/s (mantissa 75000,
    // exponent 2), overhead 40.
    let bits: u32 = 2 << 26 | 75_000 << 9 | 40;
    let mut tmmbr = vec![0x83, 205, 0, 4];
    tmmbr.extend(THEIRS.to_be_bytes());
    tmmbr.extend(0u32.to_be_bytes());
    tmmbr.extend(OURS.to_be_bytes());
    tmmbr.extend(bits.to_be_bytes());
    line.room_sends(&tmmbr, true);
    let tmmbn = line.room_receives(true);
    assert_eq!((tmmbn[0], tmmbn[1]), (0x84, 205), "a TMMBN");
    assert_eq!(&tmmbn[12..16], &THEIRS.to_be_bytes());
    let stats = line.leg.stats();
    assert_eq!((stats.rate_cap_kbps, stats.tmmbrs_received), (Some(256), 1));
    let capped = Output::for_room(&line.params, line.leg.tx.rate.kbps());
    assert_eq!((capped.mode.height, capped.kbps), (180, 256));
    let uncapped = Output::for_room(&line.params, None);
    assert_eq!(uncapped.mode.height, 720);
    // Without `nack` agreed, nothing is kept to send again.
    assert!(line.leg.tx.history.is_none());
}
