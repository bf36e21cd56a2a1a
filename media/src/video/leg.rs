//! A leg's video stream on its media worker: the room's camera read from
//! the leg's video sockets when they are readable, counted, and — once the
//! leg is in its meeting — forwarded as the room's video track (its SSRC
//! and payload type rewritten, the room's header extensions dropped) and
//! given to the meeting's video worker as a local camera; the meeting's
//! picture sent to the room; keyframe requests both ways (the meeting's
//! passed on to the room as it negotiated, the room's PLI and FIR passed
//! to the encoder it takes); lost packets repaired both ways by NACK with
//! rooms that agreed it; the room's TMMBR and REMB capping the bitrate of
//! the picture it takes; RTCP from the room read for its sender reports.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use rtc_rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc_rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc_rtcp::payload_feedbacks::receiver_estimated_maximum_bitrate::ReceiverEstimatedMaximumBitrate;
use rtc_rtcp::raw_packet::RawPacket;
use rtc_rtcp::sender_report::SenderReport;
use rtc_rtcp::transport_feedbacks::transport_layer_nack::TransportLayerNack;
use rtc_rtp::{Header, Packet};
use rtc_shared::marshal::Unmarshal;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::assemble::starts_keyframe;
use super::encode::Output;
use super::keyframe::{Ask, KeyframeAsker};
use super::nack::{LossAsker, SentHistory};

use super::params::VideoParams;
use super::presence::ShownLayout;
use super::rate::Tmmbr;
use super::router::{SentFrame, SourceId, VideoCommand};
use super::send::Transmitter;
use super::source::{CameraStats, KeyframeAsk};
use super::workers::VideoQueue;
use crate::dtls::{is_dtls, DtlsIdentity, DtlsStream, Ports};
use crate::engine::receive::{each_datagram, is_rtcp, is_stun, strip_padding};
use crate::rtp_stats::ReceiveStats;
use crate::srtp::{SrtpDrops, SrtpReceive};
use media_api::layout::Layout;
use media_api::{Crypto, LegId, MediaEvent, VideoCodec, VideoStats};

/// Where the room's camera goes in its meeting: the published track's
/// SSRC and payload type, and the hub's queue.
#[derive(Clone)]
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
    /// The room's own layout (its dial string's).
    pub layout: Option<Layout>,
}

/// How a room's camera is taken into its meeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Camera {
    codec: VideoCodec,
    /// Browsers do not decode it: the video worker transcodes it.
    transcoded: bool,
}

impl Camera {
    fn of(params: &VideoParams) -> Camera {
        Camera {
            codec: params.format.codec,
            transcoded: !params.format.browsers_decode(),
        }
    }
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
    /// The layout of the picture it is sent, as its video worker says.
    shown: Arc<ShownLayout>,
    /// The stream's DTLS-SRTP handshakes, when it is keyed that way.
    dtls: Option<DtlsStream>,
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
    /// worker in, and whether it is transcoded for the meeting (from its
    /// first packet in the meeting on: a room that offered video but
    /// sends none is nobody's picture).
    camera: Option<Camera>,
    /// Where the room's camera comes from.
    remote_rtp: Option<SocketAddr>,
    /// Asks the room again for lost packets (when it agreed `nack`).
    loss: Option<LossAsker>,
    /// PLIs and FIRs the room sent (of `requests_received`).
    plis_received: u64,
    firs_received: u64,
    /// What the meeting's video worker made of the camera.
    camera_stats: Arc<CameraStats>,
    /// Checks and decrypts the room's packets, when encrypted.
    srtp: SrtpReceive,
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
            loss: None,
            plis_received: 0,
            firs_received: 0,
            camera_stats: Arc::default(),
            srtp: SrtpReceive::default(),
        };
        VideoLeg {
            rtp,
            rtcp,
            rx,
            tx: Transmitter::new(our_ssrc),
            shown: Arc::default(),
            dtls: None,
        }
    }

    /// Applies new negotiated parameters (None: video was removed), and
    /// the stream's SRTP keying (a DTLS-SRTP handshake shows `identity`).
    pub fn configure(
        &mut self,
        id: LegId,
        params: Option<VideoParams>,
        crypto: Option<&Crypto>,
        identity: &DtlsIdentity,
    ) {
        self.tx.protection.set(crypto);
        if let Err(e) = self.rx.srtp.set(crypto) {
            warn!(leg = id.0, error = %e, "video SRTP keys unusable: the room's video is dropped");
        }
        let ports = Ports {
            rtp: &self.rtp,
            rtcp: &self.rtcp,
            remote_rtp: params.and_then(|p| p.remote_rtp),
            remote_rtcp: params.and_then(|p| p.remote_rtcp),
            mux: params.is_some_and(|p| p.rtcp_mux),
        };
        DtlsStream::configure(
            &mut self.dtls,
            id.0,
            identity,
            crypto,
            ports,
            Instant::now(),
        );
        self.rx.remote_rtcp = params.and_then(|p| p.remote_rtcp);
        self.rx.remote_rtp = params.and_then(|p| p.remote_rtp);
        let nack = params.is_some_and(|p| p.format.feedback.nack);
        if !nack {
            self.rx.loss = None;
            self.tx.history = None;
        } else if self.rx.loss.is_none() {
            self.rx.loss = Some(LossAsker::new());
            self.tx.history = Some(SentHistory::new(self.rx.our_ssrc));
        }
        self.rx.params = params;
        self.announce(id);
    }

    /// Work due at `now`: NACKs for the room's lost packets, and a cap
    /// that has waited long enough to rise.
    pub fn tick(&mut self, id: LegId, now: Instant) {
        let rx = &mut self.rx;
        if let (Some(loss), Some(params), Some(to)) = (&mut rx.loss, rx.params, rx.remote_rtcp) {
            if let Some(nacks) = loss.due(now, rx.our_ssrc) {
                let socket = rtcp_socket(&self.rtp, &self.rtcp, &params);
                self.tx.protection.send(&nacks, true, socket, to);
            }
        }
        if self.tx.rate.tick(now) {
            self.announce(id);
        }
        if let Some(dtls) = self.dtls.as_mut() {
            dtls.tick(id.0, now, &self.rtp, &self.rtcp);
        }
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
    /// camera stopped, changed codec or is now taken otherwise, that it
    /// is no longer a source: it becomes one again with its next packet).
    fn announce(&mut self, id: LegId) {
        let Some(route) = &self.rx.route else { return };
        let params = self.rx.params;
        let camera = params.filter(VideoParams::receives).map(|p| Camera::of(&p));
        if self.rx.camera.is_some() && self.rx.camera != camera {
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
                output: Output::for_room(&p, self.tx.rate.kbps()),
                layout: route.layout,
                shown: self.shown.clone(),
            }),
            None => route.queue.send(VideoCommand::RemoveViewer(id)),
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
            let now = Instant::now();
            self.tx.send(now, sent, params.payload_type, &self.rtp, to);
        }
    }

    /// Sends the room's camera into the meeting (None: no longer).
    pub fn publish(&mut self, id: LegId, to: Option<PublishVideo>) {
        self.rx.publish = to;
        if self.rx.camera.is_some_and(|c| c.transcoded) {
            self.rx.publish_transcoded(id);
        }
    }

    /// Reads what waits on the video RTP (or RTCP) socket.
    pub fn drain(&mut self, id: LegId, rtcp_port: bool, buf: &mut [u8]) {
        let VideoLeg {
            rtp,
            rtcp,
            rx,
            tx,
            dtls,
            ..
        } = self;
        let socket = if rtcp_port { &*rtcp } else { &*rtp };
        let mut capped = false;
        each_datagram(id, socket, buf, |packet, from| {
            if is_stun(packet) {
                return;
            }
            if is_dtls(packet) {
                let keys = dtls.as_mut().and_then(|d| {
                    d.on_record(id.0, rtcp_port, packet, from, socket, Instant::now())
                });
                if let Some(keys) = keys {
                    keys.install(&mut tx.protection, &mut rx.srtp);
                }
                return;
            }
            let is_rtcp = rtcp_port || is_rtcp(packet);
            let opened = rx.srtp.open(packet, is_rtcp, id.0, from);
            let packet = match &opened {
                Ok(None) => packet,
                Ok(Some(clear)) => &clear[..],
                Err(_) => return,
            };
            if is_rtcp {
                capped |= on_rtcp(rx, tx, (rtp, rtcp), id, packet, from);
            } else {
                rx.on_rtp(id, packet, from);
            }
        });
        if capped {
            self.announce(id);
        }
    }

    /// The meeting wants a keyframe of the room's published camera: when
    /// it is transcoded, our encoder makes one; else the room is asked.
    pub fn published_keyframe_wanted(
        &mut self,
        id: LegId,
        now: Instant,
        events: &mpsc::UnboundedSender<MediaEvent>,
    ) {
        let rx = &self.rx;
        if let (Some(route), Some(camera)) = (&rx.route, rx.camera) {
            if camera.transcoded {
                let source = local_source(id);
                return route.queue.send(VideoCommand::PublishKeyframe(source));
            }
        }
        self.keyframe_wanted(id, now, events);
    }

    /// A keyframe of the room's camera is wanted: ask the room as it
    /// negotiated (by signaling: an event for its call).
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
                if let Some(to) = rx.remote_rtcp {
                    let socket = rtcp_socket(&self.rtp, &self.rtcp, &params);
                    self.tx.protection.send(&bytes, true, socket, to);
                }
            }
            Some(Ask::Signaling) => {
                let _ = events.send(MediaEvent::KeyframeWanted { leg: id });
            }
            None => {}
        }
    }

    /// The room's video SRTP/SRTCP packets dropped.
    pub fn srtp_drops(&self) -> SrtpDrops {
        self.rx.srtp.drops
    }

    pub fn stats(&self) -> VideoStats {
        let mut stats = self.rx.stats();
        let sent = &self.tx;
        stats.frames_sent = sent.stats.frames;
        stats.keyframes_sent = sent.stats.keyframes;
        stats.packets_sent = sent.stats.packets;
        stats.bytes_sent = sent.stats.bytes;
        if let Some(history) = &sent.history {
            stats.nacks_received = history.nacks_received;
            stats.packets_retransmitted = history.retransmitted;
        }
        stats.rate_cap_kbps = sent.rate.kbps().map(u64::from);
        stats.tmmbrs_received = sent.rate.tmmbrs;
        stats.rembs_received = sent.rate.rembs;
        if let Some((codec, mode, kbps, sharing)) = sent.stats.last {
            stats.from_meeting = format!(
                "{} {}x{}@{} {kbps} kbit/s",
                codec.name(),
                mode.width,
                mode.height,
                mode.fps
            );
            stats.encoder_shared_by = sharing as u64;
        }
        stats.layout = self.shown.get();
        stats
    }
}

/// Reads an RTCP packet from the room; true if its cap on our bitrate
/// changed.
fn on_rtcp(
    rx: &mut Receiver,
    tx: &mut Transmitter,
    (rtp, rtcp): (&UdpSocket, &UdpSocket),
    id: LegId,
    packet: &[u8],
    from: SocketAddr,
) -> bool {
    if has_rfc2032_fir(packet) {
        rx.firs_received += 1;
        rx.keyframe_asked(id);
    }
    let mut slice = packet;
    let Ok(packets) = rtc_rtcp::packet::unmarshal(&mut slice) else {
        debug!(leg = id.0, source = %from, "undecodable video RTCP");
        return false;
    };
    rx.remote_rtcp = Some(from);
    let now = Instant::now();
    let mut capped = false;
    for p in packets {
        let any = p.as_any();
        if let Some(sr) = any.downcast_ref::<SenderReport>() {
            rx.stats.on_sender_report(sr.ntp_time, now);
        } else if any.is::<PictureLossIndication>() {
            rx.plis_received += 1;
            rx.keyframe_asked(id);
        } else if any.is::<FullIntraRequest>() {
            rx.firs_received += 1;
            rx.keyframe_asked(id);
        } else if let Some(nack) = any.downcast_ref::<TransportLayerNack>() {
            if let Some(to) = rx.remote_rtp {
                tx.nacked(now, nack.clone(), rtp, to);
            }
        } else if let Some(remb) = any.downcast_ref::<ReceiverEstimatedMaximumBitrate>() {
            tx.rate.rembs += 1;
            capped |= tx.rate.ask(now, (remb.bitrate / 1000.0) as u32);
        } else if let Some(raw) = any.downcast_ref::<RawPacket>() {
            let Some(tmmbr) = Tmmbr::parse(&raw.0, rx.our_ssrc) else {
                continue;
            };
            tx.rate.tmmbrs += 1;
            capped |= tx.rate.ask(now, (tmmbr.bps() / 1000) as u32);
            if let Some(params) = rx.params {
                let socket = rtcp_socket(rtp, rtcp, &params);
                tx.protection
                    .send(&tmmbr.notification(rx.our_ssrc), true, socket, from);
            }
        }
    }
    capped
}

fn load(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// The socket RTCP goes out on: the RTP one with `rtcp-mux`.
fn rtcp_socket<'a>(rtp: &'a UdpSocket, rtcp: &'a UdpSocket, params: &VideoParams) -> &'a UdpSocket {
    if params.rtcp_mux {
        rtp
    } else {
        rtcp
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
        if starts_keyframe(params.format.codec, payload) {
            self.keyframes += 1;
        }
        self.remote_rtp = Some(from);
        if let Some(loss) = &mut self.loss {
            loss.received(now, header.ssrc, header.sequence_number);
        }
        let payload = Bytes::copy_from_slice(payload);
        let camera = Camera::of(&params);
        if let Some(route) = &self.route {
            if self.camera != Some(camera) {
                self.camera = Some(camera);
                route.queue.send(VideoCommand::AddSource {
                    id: local_source(id),
                    meeting: route.meeting.clone(),
                    participant: route.participant.clone(),
                    codec: params.format.codec,
                    ask: KeyframeAsk::Room(id),
                    stats: self.camera_stats.clone(),
                });
                if camera.transcoded {
                    self.publish_transcoded(id);
                }
            }
            route.queue.send(VideoCommand::Packet(
                local_source(id),
                header.sequence_number,
                header.timestamp,
                header.marker,
                payload.clone(),
            ));
        }
        let Some(publish) = self.publish.as_ref().filter(|_| !camera.transcoded) else {
            return;
        };
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

    /// Has the meeting's video worker transcode the camera into the
    /// published track (or stop, when there is none).
    fn publish_transcoded(&self, id: LegId) {
        if let Some(route) = &self.route {
            route.queue.send(VideoCommand::Publish {
                source: local_source(id),
                leg: id,
                to: self.publish.clone(),
            });
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

    fn stats(&self) -> VideoStats {
        let codec = self.params.map_or_else(String::new, |p| {
            let f = p.format;
            match f.codec {
                VideoCodec::H264 => format!(
                    "H264/90000 pt {} mode {}",
                    p.payload_type, f.packetization_mode
                ),
                VideoCodec::Vp8 | VideoCodec::H263 => {
                    format!("{}/90000 pt {}", f.codec.name(), p.payload_type)
                }
            }
        });
        let transcoded = self.camera.is_some_and(|c| c.transcoded);
        let to_meeting = match load(&self.camera_stats.transcoded_size) {
            _ if self.publish.is_none() || self.stats.received() == 0 => "none".into(),
            _ if !transcoded => "forwarded".into(),
            0 => "transcoded to H264".into(),
            size => format!("transcoded to H264 {}x{}", size >> 16, size & 0xffff),
        };
        let sent = self.asker.sent;
        VideoStats {
            codec,
            to_meeting,
            packets_received: self.stats.received(),
            bytes_received: self.stats.bytes,
            packets_lost: self.stats.lost(),
            keyframes_received: self.keyframes,
            packets_forwarded: self.forwarded,
            frames_transcoded: load(&self.camera_stats.frames_transcoded),
            keyframes_wanted: self.wanted,
            plis_sent: sent.pli,
            firs_sent: sent.fir,
            fast_updates_sent: sent.signaling,
            requests_throttled: self.asker.throttled,
            keyframe_requests_received: self.requests_received,
            plis_received: self.plis_received,
            firs_received: self.firs_received,
            nacks_sent: self.loss.as_ref().map_or(0, |l| l.sent),
            camera_frames_decoded: load(&self.camera_stats.frames_decoded),
            camera_frames_dropped: load(&self.camera_stats.frames_dropped),
            camera_packets_lost: load(&self.camera_stats.packets_lost),
            camera_decode_errors: load(&self.camera_stats.decode_errors),
            rejected_packets: self.rejected,
            ..VideoStats::default()
        }
    }
}

#[cfg(test)]
#[path = "leg_tests.rs"]
mod tests;
