//! A leg's video stream on its media worker: the room's camera read from
//! the leg's video sockets when they are readable, counted, and — once the
//! leg is in its meeting — forwarded as the room's video track (its SSRC
//! and payload type rewritten, the room's header extensions dropped) and
//! given to the meeting's video worker as a local camera; the meeting's
//! picture sent to the room; keyframe requests both ways (the meeting's
//! passed on to the room as it negotiated, the room's PLI and FIR passed
//! to the encoder it takes); RTCP from the room read for its sender
//! reports.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use rtc_rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc_rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc_rtcp::sender_report::SenderReport;
use rtc_rtp::{Header, Packet};
use rtc_shared::marshal::Unmarshal;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::encode::Output;
use super::keyframe::{Ask, KeyframeAsker};
use super::params::VideoParams;
use super::router::{KeyframeAsk, SentFrame, SourceId, VideoCommand};
use super::send::Transmitter;
use super::workers::VideoQueue;
use crate::engine::receive::{each_datagram, is_rtcp, strip_padding};
use crate::rtp_stats::ReceiveStats;
use media_api::{LegId, MediaEvent, VideoCodec, VideoStats};

/// Where the room's camera goes in its meeting: the published track's
/// SSRC and payload type, and the hub's queue.
pub(crate) struct PublishVideo {
    pub ssrc: u32,
    pub payload_type: u8,
    pub packets: mpsc::Sender<(LegId, Packet)>,
}

/// The leg's place in its meeting's video: the worker, the meeting, and
/// the room's participant id.
#[derive(Clone)]
pub(crate) struct VideoRoute {
    pub queue: VideoQueue,
    pub meeting: Arc<str>,
    pub participant: String,
}

/// The source number of a local room's camera (remote ones count up from 1).
fn local_source(leg: LegId) -> SourceId {
    1 << 63 | leg.0
}

pub(crate) struct VideoLeg {
    pub rtp: UdpSocket,
    pub rtcp: UdpSocket,
    rx: Receiver,
    tx: Transmitter,
}

/// What the leg knows of the stream, apart from its sockets.
struct Receiver {
    params: Option<VideoParams>,
    our_ssrc: u32,
    /// Where RTP and RTCP go: from SDP until the room's packets show its
    /// real source.
    remote_rtcp: Option<SocketAddr>,
    stats: ReceiveStats,
    keyframes: u64,
    asker: KeyframeAsker,
    wanted: u64,
    requests_received: u64,
    rejected: u64,
    publish: Option<PublishVideo>,
    forwarded: u64,
    /// In a meeting: where its video is.
    route: Option<VideoRoute>,
    /// The codec the room's camera is a source of the meeting's video
    /// worker in (from its first packet in the meeting on: a room that
    /// offered video but sends none is nobody's picture).
    camera: Option<VideoCodec>,
    /// Where the room's camera comes from.
    remote_rtp: Option<SocketAddr>,
}

impl VideoLeg {
    pub fn new(rtp: UdpSocket, rtcp: UdpSocket, our_ssrc: u32) -> VideoLeg {
        let rx = Receiver {
            params: None,
            our_ssrc,
            remote_rtcp: None,
            stats: ReceiveStats::new(90000),
            keyframes: 0,
            asker: KeyframeAsker::default(),
            wanted: 0,
            requests_received: 0,
            rejected: 0,
            publish: None,
            forwarded: 0,
            route: None,
            camera: None,
            remote_rtp: None,
        };
        VideoLeg {
            rtp,
            rtcp,
            rx,
            tx: Transmitter::new(our_ssrc),
        }
    }

    /// Applies new negotiated parameters (None: video was removed).
    pub fn configure(&mut self, id: LegId, params: Option<VideoParams>) {
        self.rx.remote_rtcp = params.and_then(|p| p.remote_rtcp);
        self.rx.remote_rtp = params.and_then(|p| p.remote_rtp);
        self.rx.params = params;
        self.announce(id);
    }

    /// The leg is in a meeting (None: no longer): its camera is a source
    /// of the meeting's video worker, and the room a viewer.
    pub fn route(&mut self, id: LegId, route: Option<VideoRoute>) {
        if let Some(old) = std::mem::replace(&mut self.rx.route, route) {
            old.queue.send(VideoCommand::RemoveSource(local_source(id)));
            old.queue.send(VideoCommand::RemoveViewer(id));
            self.rx.camera = None;
        }
        self.announce(id);
    }

    /// Tells the meeting's video worker what the room takes (and, if its
    /// camera stopped or changed codec, that it is no longer a source: it
    /// becomes one again with its next packet).
    fn announce(&mut self, id: LegId) {
        let Some(route) = &self.rx.route else { return };
        let params = self.rx.params;
        let codec = params.filter(VideoParams::receives).map(|p| p.format.codec);
        if self.rx.camera.is_some() && self.rx.camera != codec {
            self.rx.camera = None;
            route
                .queue
                .send(VideoCommand::RemoveSource(local_source(id)));
        }
        match params.filter(VideoParams::sends) {
            Some(p) => route.queue.send(VideoCommand::AddViewer {
                leg: id,
                meeting: route.meeting.clone(),
                participant: route.participant.clone(),
                output: Output::for_room(&p),
            }),
            None => route.queue.send(VideoCommand::RemoveViewer(id)),
        }
    }

    /// The room's active speaker changed: its picture follows.
    pub fn speaker(&self, id: LegId, participant: &str) {
        if let Some(route) = &self.rx.route {
            route
                .queue
                .send(VideoCommand::Speaker(id, participant.to_owned()));
        }
    }

    /// The room asked for a keyframe of its picture (by RTCP or signaling).
    pub fn keyframe_asked(&mut self, id: LegId) {
        self.rx.keyframe_asked(id);
    }

    /// Sends the room a frame of the meeting's picture.
    pub fn send_frame(&mut self, sent: &SentFrame) {
        let Some(params) = self.rx.params.filter(VideoParams::sends) else {
            return;
        };
        if let Some(to) = self.rx.remote_rtp {
            self.tx.send(sent, params.payload_type, &self.rtp, to);
        }
    }

    /// Sends the room's camera into the meeting (None: no longer).
    pub fn publish(&mut self, to: Option<PublishVideo>) {
        self.rx.publish = to;
    }

    /// Reads what waits on the video RTP (or RTCP) socket.
    pub fn drain(&mut self, id: LegId, rtcp_port: bool, buf: &mut [u8]) {
        let socket = if rtcp_port { &self.rtcp } else { &self.rtp };
        let rx = &mut self.rx;
        each_datagram(id, socket, buf, |packet, from| {
            if rtcp_port || is_rtcp(packet) {
                rx.on_rtcp(id, packet, from);
            } else {
                rx.on_rtp(id, packet, from);
            }
        });
    }

    /// The meeting wants a keyframe of the room's camera: ask the room as
    /// it negotiated (by signaling: an event for its call).
    pub fn keyframe_wanted(
        &mut self,
        id: LegId,
        now: Instant,
        events: &mpsc::UnboundedSender<MediaEvent>,
    ) {
        let rx = &mut self.rx;
        rx.wanted += 1;
        let Some(params) = rx.params else { return };
        let their_ssrc = rx.stats.ssrc().unwrap_or(0);
        let how = params.format.feedback.keyframe_request();
        match rx.asker.ask(now, how, rx.our_ssrc, their_ssrc) {
            Some(Ask::Rtcp(bytes)) => {
                let socket = if params.rtcp_mux {
                    &self.rtp
                } else {
                    &self.rtcp
                };
                if let Some(to) = rx.remote_rtcp {
                    let _ = socket.send_to(&bytes, to);
                }
            }
            Some(Ask::Signaling) => {
                let _ = events.send(MediaEvent::KeyframeWanted { leg: id });
            }
            None => {}
        }
    }

    pub fn stats(&self) -> VideoStats {
        let mut stats = self.rx.stats();
        let sent = &self.tx.stats;
        stats.frames_sent = sent.frames;
        stats.keyframes_sent = sent.keyframes;
        stats.packets_sent = sent.packets;
        stats.bytes_sent = sent.bytes;
        if let Some((codec, mode, kbps, sharing)) = sent.last {
            stats.from_meeting = format!(
                "{} {}x{}@{} {kbps} kbit/s",
                codec.name(),
                mode.width,
                mode.height,
                mode.fps
            );
            stats.encoder_shared_by = sharing as u64;
        }
        stats
    }
}

/// Whether a compound RTCP packet holds an RFC 2032 FIR (packet type
/// 192, which baresip and older rooms send; rtc-rtcp does not know it).
fn has_rfc2032_fir(mut compound: &[u8]) -> bool {
    while compound.len() >= 4 {
        if compound[1] == 192 {
            return true;
        }
        let len = (usize::from(u16::from_be_bytes([compound[2], compound[3]])) + 1) * 4;
        compound = compound.get(len..).unwrap_or_default();
    }
    false
}

impl Receiver {
    fn on_rtp(&mut self, id: LegId, packet: &[u8], from: SocketAddr) {
        let mut slice = packet;
        let header = Header::unmarshal(&mut slice);
        let accepted = self.params.filter(VideoParams::receives);
        let (Ok(header), Some(params)) = (header, accepted) else {
            return self.reject(id);
        };
        if !params.format.accepted.contains(header.payload_type) {
            return self.reject(id);
        }
        let payload = strip_padding(&header, &packet[packet.len() - slice.len()..]);
        let now = Instant::now();
        self.stats.on_packet(
            header.ssrc,
            header.sequence_number,
            header.timestamp,
            payload.len(),
            now,
        );
        if meeting::starts_keyframe(params.format.codec.mime(), payload) {
            self.keyframes += 1;
        }
        self.remote_rtp = Some(from);
        let payload = Bytes::copy_from_slice(payload);
        if let Some(route) = &self.route {
            if self.camera != Some(params.format.codec) {
                self.camera = Some(params.format.codec);
                route.queue.send(VideoCommand::AddSource {
                    id: local_source(id),
                    meeting: route.meeting.clone(),
                    participant: route.participant.clone(),
                    codec: params.format.codec,
                    ask: KeyframeAsk::Room(id),
                });
            }
            route.queue.send(VideoCommand::Packet(
                local_source(id),
                header.sequence_number,
                header.timestamp,
                header.marker,
                payload.clone(),
            ));
        }
        let Some(publish) = &self.publish else { return };
        let forwarded = Packet {
            header: Header {
                ssrc: publish.ssrc,
                payload_type: publish.payload_type,
                padding: false,
                extension: false,
                extension_profile: 0,
                extensions: Vec::new(),
                ..header
            },
            payload,
        };
        if publish.packets.try_send((id, forwarded)).is_ok() {
            self.forwarded += 1;
        }
    }

    /// The room wants a keyframe: its encoder makes one.
    fn keyframe_asked(&mut self, id: LegId) {
        self.requests_received += 1;
        if let Some(route) = &self.route {
            route.queue.send(VideoCommand::KeyframeFor(id));
        }
    }

    /// Counts a packet that is not the agreed video (logged once).
    fn reject(&mut self, id: LegId) {
        self.rejected += 1;
        if self.rejected == 1 {
            warn!(
                leg = id.0,
                "video packet on a payload type not agreed, or not RTP (counting further ones silently)"
            );
        }
    }

    fn on_rtcp(&mut self, id: LegId, packet: &[u8], from: SocketAddr) {
        if has_rfc2032_fir(packet) {
            self.keyframe_asked(id);
        }
        let mut slice = packet;
        let Ok(packets) = rtc_rtcp::packet::unmarshal(&mut slice) else {
            debug!(leg = id.0, source = %from, "undecodable video RTCP");
            return;
        };
        self.remote_rtcp = Some(from);
        for p in &packets {
            let any = p.as_any();
            if let Some(sr) = any.downcast_ref::<SenderReport>() {
                self.stats.on_sender_report(sr.ntp_time, Instant::now());
            } else if any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>() {
                self.keyframe_asked(id);
            }
        }
    }

    fn stats(&self) -> VideoStats {
        let codec = self.params.map_or_else(String::new, |p| {
            let f = p.format;
            match f.codec {
                VideoCodec::H264 => format!(
                    "H264/90000 pt {} mode {}",
                    p.payload_type, f.packetization_mode
                ),
                VideoCodec::Vp8 => format!("VP8/90000 pt {}", p.payload_type),
            }
        });
        let to_meeting = if self.publish.is_some() && self.stats.received() > 0 {
            "forwarded"
        } else {
            "none"
        };
        let sent = self.asker.sent;
        VideoStats {
            codec,
            to_meeting: to_meeting.into(),
            packets_received: self.stats.received(),
            bytes_received: self.stats.bytes,
            packets_lost: self.stats.lost(),
            keyframes_received: self.keyframes,
            packets_forwarded: self.forwarded,
            keyframes_wanted: self.wanted,
            plis_sent: sent.pli,
            firs_sent: sent.fir,
            fast_updates_sent: sent.signaling,
            requests_throttled: self.asker.throttled,
            keyframe_requests_received: self.requests_received,
            rejected_packets: self.rejected,
            ..VideoStats::default()
        }
    }
}
