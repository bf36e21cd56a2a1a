//! A scripted H.323 room for the call tests: it sends a recorded caller's
//! messages (the dialled alias and every media address rewritten to its
//! own) over TPKT/TCP, reads what MRA answers on call signalling and
//! H.245, and exchanges G.711 µ-law RTP: a tone out, what it hears kept.
//! Every TPKT packet both ways is logged for the tshark oracle.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use h323_asn1::h225::{H323UUPDUH323MessageBody as Body, H323UserInformation};
use h323_asn1::h245::{
    MultimediaSystemControlMessage as H245, OpenLogicalChannel, OpenLogicalChannelAck,
    OpenLogicalChannelAckForwardMultiplexAckParameters as AckParameters,
    OpenLogicalChannelForwardLogicalChannelParametersMultiplexParameters as Forward,
    OpenLogicalChannelReverseLogicalChannelParametersMultiplexParameters as Reverse,
    RequestMessage, ResponseMessage,
};
use h323_asn1::rasn::types::OctetString;
use media::audio::{new_codec, CodecOptions};
use media_api::{AudioCodec, BoundStream, StreamKind, VideoLimits};
use signaling::h323::address::dialled_digits;
use signaling::h323::channels::{receiving, sending, Carried};
use signaling::h323::fast_start;
use signaling::h323::h225_call::H225Call;
use signaling::h323::h245_address::{h245_socket_addr, h245_transport};
use signaling::h323::q931::{MessageType, Q931};
use signaling::h323::tpkt::{frame, TpktReader};

use super::pcap;
use super::wav::Recording;

const WAIT: Duration = Duration::from_secs(10);

/// One TPKT connection.
struct Link {
    stream: TcpStream,
    reader: TpktReader,
}

impl Link {
    fn connect(to: SocketAddr) -> Link {
        Link::over(TcpStream::connect(to).unwrap_or_else(|e| panic!("connect {to}: {e}")))
    }

    fn over(stream: TcpStream) -> Link {
        stream.set_read_timeout(Some(WAIT)).unwrap();
        Link {
            stream,
            reader: TpktReader::default(),
        }
    }

    fn ends(&self) -> (SocketAddr, SocketAddr) {
        (
            self.stream.local_addr().unwrap(),
            self.stream.peer_addr().unwrap(),
        )
    }

    fn send(&mut self, wire: &mut Vec<(SocketAddr, SocketAddr, Vec<u8>)>, payload: &[u8]) {
        let (us, them) = self.ends();
        self.stream.write_all(&frame(payload)).unwrap();
        wire.push((us, them, frame(payload)));
    }

    /// The next packet, None once the other side closed.
    fn recv(&mut self, wire: &mut Vec<(SocketAddr, SocketAddr, Vec<u8>)>) -> Option<Vec<u8>> {
        let (us, them) = self.ends();
        let mut buf = [0u8; 8192];
        loop {
            if let Some(p) = self.reader.next_packet().expect("MRA sends TPKT") {
                wire.push((them, us, frame(&p)));
                return Some(p);
            }
            match self.stream.read(&mut buf) {
                Ok(0) => return None,
                Ok(n) => self.reader.push(&buf[..n]),
                Err(e) => panic!("waiting for MRA: {e}"),
            }
        }
    }
}

pub struct H323Room {
    signalling: Link,
    h245: Option<Link>,
    rtp: UdpSocket,
    _rtcp: UdpSocket,
    /// Every TPKT packet sent and received: (from, to, bytes).
    pub wire: Vec<(SocketAddr, SocketAddr, Vec<u8>)>,
    /// H.245 that came tunnelled in call signalling, in order.
    pub tunnelled: Vec<H245>,
}

/// An RTP port pair on loopback (RTP even, RTCP the next).
pub fn rtp_pair() -> (UdpSocket, UdpSocket) {
    loop {
        let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = rtp.local_addr().unwrap().port();
        if port.is_multiple_of(2) {
            if let Ok(rtcp) = UdpSocket::bind(("127.0.0.1", port + 1)) {
                return (rtp, rtcp);
            }
        }
    }
}

impl H323Room {
    /// Connects to MRA's call-signalling port.
    pub fn connect(gateway: SocketAddr) -> H323Room {
        H323Room::over(Link::connect(gateway))
    }

    /// Takes MRA's call on `listener` (the room's call-signalling port).
    pub fn accept(listener: &TcpListener) -> H323Room {
        listener.set_nonblocking(false).unwrap();
        let (stream, _) = listener.accept().expect("MRA calls");
        H323Room::over(Link::over(stream))
    }

    fn over(signalling: Link) -> H323Room {
        let (rtp, rtcp) = rtp_pair();
        H323Room {
            signalling,
            h245: None,
            rtp,
            _rtcp: rtcp,
            wire: Vec::new(),
            tunnelled: Vec::new(),
        }
    }

    pub fn rtp(&self) -> SocketAddr {
        self.rtp.local_addr().unwrap()
    }

    pub fn rtcp(&self) -> SocketAddr {
        SocketAddr::new(self.rtp().ip(), self.rtp().port() + 1)
    }

    /// Its audio RTP and RTCP addresses.
    pub fn audio(&self) -> BoundStream {
        BoundStream {
            kind: StreamKind::Audio,
            rtp: self.rtp(),
            rtcp: self.rtcp(),
            dtls_fingerprint: None,
        }
    }

    /// The recorded Setup with `dial` as its destination alias (if given)
    /// and our media addresses in its fast-start proposals.
    pub fn rewrite_setup(&self, setup: &[u8], dial: Option<&str>) -> Vec<u8> {
        let mut q931 = Q931::parse(setup).unwrap();
        let mut uu: H323UserInformation = h323_asn1::decode(q931.user_user().unwrap()).unwrap();
        let Body::setup(s) = &mut uu.h323_uu_pdu.h323_message_body else {
            panic!("not a Setup");
        };
        if let Some(dial) = dial {
            s.destination_address = Some(vec![dialled_digits(dial).unwrap()]);
        }
        for olc in s.fast_start.iter_mut().flatten() {
            let mut open: OpenLogicalChannel = h323_asn1::decode(olc).unwrap();
            self.rewrite_channel(&mut open);
            *olc = OctetString::from(h323_asn1::encode(&open).unwrap());
        }
        q931.set_user_user(&h323_asn1::encode(&uu).unwrap());
        q931.encode()
    }

    /// Our RTP/RTCP addresses wherever the recorded channel had the
    /// caller's.
    fn rewrite_channel(&self, olc: &mut OpenLogicalChannel) {
        let (rtp, rtcp) = (h245_transport(self.rtp()), h245_transport(self.rtcp()));
        if let Forward::h2250LogicalChannelParameters(p) =
            &mut olc.forward_logical_channel_parameters.multiplex_parameters
        {
            if p.media_channel.is_some() {
                p.media_channel = Some(rtp.clone());
            }
            if p.media_control_channel.is_some() {
                p.media_control_channel = Some(rtcp.clone());
            }
        }
        if let Some(Reverse::h2250LogicalChannelParameters(p)) = olc
            .reverse_logical_channel_parameters
            .as_mut()
            .and_then(|r| r.multiplex_parameters.as_mut())
        {
            p.media_channel = Some(rtp);
            p.media_control_channel = Some(rtcp);
        }
    }

    /// A recorded H.245 message with our addresses in it: in a channel we
    /// open, and in the ack of MRA's channel (whose number is `theirs`).
    pub fn rewrite_h245(&self, message: &[u8], theirs: u16) -> Vec<u8> {
        let mut m: H245 = h323_asn1::decode(message).unwrap();
        match &mut m {
            H245::request(RequestMessage::openLogicalChannel(olc)) => self.rewrite_channel(olc),
            H245::response(ResponseMessage::openLogicalChannelAck(ack)) => {
                ack.forward_logical_channel_number.0 = theirs;
                if let Some(AckParameters::h2250LogicalChannelAckParameters(p)) =
                    &mut ack.forward_multiplex_ack_parameters
                {
                    p.media_channel = Some(h245_transport(self.rtp()));
                    p.media_control_channel = Some(h245_transport(self.rtcp()));
                }
            }
            _ => {}
        }
        h323_asn1::encode(&m).unwrap()
    }

    /// tshark's complaints about what the room and MRA exchanged (call
    /// signalling, whose listening side is `signalling`, shown on port
    /// 1720; H.245 decoded where it ran).
    pub fn tshark_complaints(&self, signalling: SocketAddr, h245: Option<SocketAddr>) -> String {
        let to_1720 = |a: SocketAddr| {
            if a == signalling {
                SocketAddr::new(a.ip(), 1720)
            } else {
                a
            }
        };
        let wire: Vec<_> = self
            .wire
            .iter()
            .map(|(f, t, p)| (to_1720(*f), to_1720(*t), p.clone()))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h323.pcap");
        pcap::write(&path, pcap::Transport::Tcp, &wire);
        let decode_as = h245.map(|a| format!("tcp.port=={},h245", a.port()));
        let decode_as: Vec<&str> = decode_as.iter().map(String::as_str).collect();
        let complaints = pcap::tshark_complaints(&path, &decode_as);
        let summary = pcap::tshark_read(&path, &decode_as, &[]);
        assert!(summary.contains("CS: connect"), "{summary}");
        complaints
    }

    pub fn send_q931(&mut self, q931: &[u8]) {
        self.signalling.send(&mut self.wire, q931);
    }

    /// The next call-signalling message (its tunnelled H.245 kept in
    /// [`H323Room::tunnelled`]); None once MRA closed the connection.
    pub fn next_q931(&mut self) -> Option<Q931> {
        let bytes = self.signalling.recv(&mut self.wire)?;
        let q931 = Q931::parse(&bytes).expect("MRA sends Q.931");
        if let Some(uu) = q931.user_user() {
            let uu: H323UserInformation = h323_asn1::decode(uu).expect("MRA's UUIE decodes");
            for m in uu.h323_uu_pdu.h245_control.into_iter().flatten() {
                self.tunnelled
                    .push(h323_asn1::decode(&m).expect("tunnelled H.245 decodes"));
            }
        }
        Some(q931)
    }

    /// Call-signalling messages up to and including the first `kind`.
    pub fn until(&mut self, kind: MessageType) -> Vec<Q931> {
        let mut read = Vec::new();
        while read.last().map(|m: &Q931| m.kind) != Some(kind) {
            let next = self.next_q931();
            read.push(next.unwrap_or_else(|| panic!("closed before {kind:?}: {read:?}")));
        }
        read
    }

    pub fn open_h245(&mut self, to: SocketAddr) {
        self.h245 = Some(Link::connect(to));
    }

    pub fn send_h245(&mut self, message: &[u8]) {
        let link = self.h245.as_mut().expect("H.245 connection open");
        link.send(&mut self.wire, message);
    }

    /// The next message on the H.245 connection; None once closed.
    pub fn next_h245(&mut self) -> Option<H245> {
        let link = self.h245.as_mut().expect("H.245 connection open");
        let bytes = link.recv(&mut self.wire)?;
        Some(h323_asn1::decode(&bytes).expect("MRA's H.245 decodes"))
    }

    /// Sends `secs` of a `freq` Hz tone as G.711 µ-law to `to`, paced at
    /// one 20 ms packet per tick of its receive timeout, and returns what
    /// it heard meanwhile (48 kHz) and how many packets came from `to`
    /// with payload type 0.
    pub fn exchange_tone(&mut self, to: SocketAddr, freq: f64, secs: f64) -> (Recording, usize) {
        let mut encoder = new_codec(AudioCodec::Pcmu, CodecOptions::default()).unwrap();
        let mut decoder = new_codec(AudioCodec::Pcmu, CodecOptions::default()).unwrap();
        let mut heard = Vec::new();
        let mut packets = 0;
        let (mut seq, mut ts, ssrc) = (0u16, 0u32, 0x1234_5678u32);
        let start = Instant::now();
        let mut next = start;
        let mut buf = [0u8; 2048];
        while start.elapsed().as_secs_f64() < secs {
            if Instant::now() >= next {
                let pcm: Vec<i16> = (0..960)
                    .map(|i| {
                        let t = f64::from(ts * 6 + i) / 48000.0;
                        (0.25 * 32767.0 * (2.0 * std::f64::consts::PI * freq * t).sin()) as i16
                    })
                    .collect();
                let mut packet = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
                packet[2..4].copy_from_slice(&seq.to_be_bytes());
                packet[4..8].copy_from_slice(&ts.to_be_bytes());
                packet[8..12].copy_from_slice(&ssrc.to_be_bytes());
                encoder.encode(&pcm, &mut packet).unwrap();
                self.rtp.send_to(&packet, to).unwrap();
                seq = seq.wrapping_add(1);
                ts = ts.wrapping_add(160);
                next += Duration::from_millis(20);
            }
            let wait = next.saturating_duration_since(Instant::now());
            self.rtp
                .set_read_timeout(Some(wait.max(Duration::from_millis(1))))
                .unwrap();
            if let Ok((n, from)) = self.rtp.recv_from(&mut buf) {
                if from == to && n > 12 && buf[1] & 0x7f == 0 {
                    packets += 1;
                    decoder.decode(&buf[12..n], &mut heard).unwrap();
                }
            }
        }
        (
            Recording {
                rate: 48000,
                samples: heard,
            },
            packets,
        )
    }
}

/// The Connect's H.245 address, if any.
pub fn h245_address(connect: &Q931) -> Option<SocketAddr> {
    let uu: H323UserInformation = h323_asn1::decode(connect.user_user()?).ok()?;
    match uu.h323_uu_pdu.h323_message_body {
        Body::connect(c) => c
            .h245_address
            .as_ref()
            .and_then(signaling::h323::address::socket_addr),
        _ => None,
    }
}

/// The TPKT streams of a call recorded from an independent stack
/// (`../shared/vectors/h323/captures/NAME`).
pub fn recorded(name: &str) -> Vec<super::pcap::TpktStream> {
    super::pcap::tpkt_streams(
        &super::manifest_dir()
            .join("../shared/vectors/h323/captures")
            .join(name),
    )
}

/// MRA's address in an openLogicalChannelAck (where the room sends RTP).
pub fn ack_media_channel(ack: &OpenLogicalChannelAck) -> Option<SocketAddr> {
    match &ack.forward_multiplex_ack_parameters {
        Some(AckParameters::h2250LogicalChannelAckParameters(p)) => {
            p.media_channel.as_ref().and_then(h245_socket_addr)
        }
        _ => None,
    }
}

/// MRA's RTP address for RTP `session` (1 audio, 2 video) in its
/// fast-start answer: the media channel of the answered channel the room
/// sends on.
pub fn fast_start_media_channel(connect: &Q931, session: u8) -> Option<SocketAddr> {
    let uu: H323UserInformation = h323_asn1::decode(connect.user_user()?).ok()?;
    let Body::connect(c) = uu.h323_uu_pdu.h323_message_body else {
        return None;
    };
    c.fast_start.into_iter().flatten().find_map(|olc| {
        let olc: OpenLogicalChannel = h323_asn1::decode(&olc).ok()?;
        match olc.forward_logical_channel_parameters.multiplex_parameters {
            Forward::h2250LogicalChannelParameters(p)
                if olc.reverse_logical_channel_parameters.is_none() && p.session_id == session =>
            {
                p.media_channel.as_ref().and_then(h245_socket_addr)
            }
            _ => None,
        }
    })
}

/// The H.264 payload type of a scripted room's video, both ways.
pub const VIDEO_PT: u8 = 109;
/// Its proposed video channels: MRA → room, room → MRA.
pub const TO_ROOM: u16 = 101;
pub const FROM_ROOM: u16 = 102;

impl H323Room {
    /// Calls `number` as `name`, proposing PCMU and H.264 (level 3.1,
    /// mode 1, [`VIDEO_PT`]) both ways in fast start, the room's camera
    /// and screen on `video_rtp`/`video_rtcp`; returns the call and where
    /// MRA answered the room should send its camera.
    pub fn video_call(
        &mut self,
        number: &str,
        name: &str,
        video_rtp: SocketAddr,
        video_rtcp: SocketAddr,
    ) -> (H225Call, SocketAddr) {
        let h264 = Carried::H264 {
            level_idc: 31,
            limits: VideoLimits::of_h264_level(31, false),
            kbps: 1500,
            payload_type: VIDEO_PT,
            mode: 1,
        };
        self.video_call_in(h264, number, name, video_rtp, video_rtcp)
    }

    /// [`H323Room::video_call`] proposing `video` both ways instead.
    pub fn video_call_in(
        &mut self,
        video: Carried,
        number: &str,
        name: &str,
        video_rtp: SocketAddr,
        video_rtcp: SocketAddr,
    ) -> (H225Call, SocketAddr) {
        let mut proposals = fast_start::propose(&[AudioCodec::Pcmu], self.rtp(), self.rtcp());
        let video = [
            receiving(TO_ROOM, video, video_rtp, video_rtcp),
            sending(FROM_ROOM, video, video_rtcp),
        ];
        proposals.extend(
            video
                .iter()
                .flatten()
                .map(|o| h323_asn1::encode(o).unwrap()),
        );
        let mut caller = H225Call::new();
        self.send_q931(&caller.setup(number, name, proposals));
        let answers = self.until(MessageType::Connect);
        let connect = answers.last().unwrap();
        assert!(fast_start_media_channel(connect, 1).is_some(), "audio");
        let video_to = fast_start_media_channel(connect, 2).expect("video answered in fast start");
        (caller, video_to)
    }
}
