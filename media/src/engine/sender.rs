//! The send side of a leg, on the media thread: 48 kHz frames are gathered
//! into packets of the negotiated ptime, encoded, and sent as RTP (or as
//! RFC 4733 events while a digit is being sent); RTCP sender or receiver
//! reports go out every few seconds.

use std::collections::VecDeque;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime};

use rtc_rtcp::receiver_report::ReceiverReport;
use rtc_rtcp::sender_report::SenderReport;
use rtc_rtp::Header;
use rtc_shared::marshal::Marshal;
use tracing::warn;

use crate::audio::{samples_per_tick, Codec, CodecError};
use crate::params::AudioParams;
use crate::rtp_stats::ntp_time;
use crate::srtp::SrtpSend;
use crate::telephone_event::DigitSender;

const RTCP_INTERVAL: Duration = Duration::from_secs(5);

/// Our RTP stream towards one room.
pub(crate) struct Sender {
    header: Header,
    pcm: Vec<i16>,
    payload: Vec<u8>,
    packet: [u8; 1500],
    pub packets: u32,
    pub octets: u32,
    /// RTP timestamp of the next sample we produce.
    clock: u32,
    /// RTP timestamp of the first sample in `pcm`.
    pcm_ts: u32,
    talk_spurt: bool,
    digits: VecDeque<char>,
    /// The digit being sent and its event's start timestamp.
    digit: Option<(DigitSender, u32)>,
    next_rtcp: Instant,
    send_errors: u64,
    /// SRTP, when the stream is encrypted.
    pub protection: SrtpSend,
}

impl Sender {
    pub fn new(ssrc: u32, now: Instant) -> Sender {
        Sender {
            header: Header {
                version: 2,
                ssrc,
                sequence_number: rand::random(),
                ..Header::default()
            },
            clock: rand::random(),
            pcm_ts: 0,
            talk_spurt: true,
            pcm: Vec::with_capacity(5760),
            payload: Vec::with_capacity(1500),
            packet: [0; 1500],
            packets: 0,
            octets: 0,
            digits: VecDeque::new(),
            digit: None,
            next_rtcp: now + RTCP_INTERVAL,
            send_errors: 0,
            protection: SrtpSend::Clear,
        }
    }

    /// Sends an RTCP packet, protected as agreed.
    pub fn send_rtcp(&mut self, packet: &[u8], socket: &UdpSocket, to: SocketAddr) {
        if !self.protection.send(packet, true, socket, to) {
            self.send_errors += 1;
        }
    }

    pub fn queue_digit(&mut self, digit: char) {
        self.digits.push_back(digit);
    }

    /// Takes one 20 ms frame; sends a packet when a ptime's worth is gathered.
    pub fn push_frame(
        &mut self,
        frame: &[i16],
        media: &AudioParams,
        codec: &mut dyn Codec,
        socket: &UdpSocket,
        to: SocketAddr,
    ) {
        let per_tick = samples_per_tick(media.codec);
        let frame_ticks = frame.len() as u32 / per_tick;
        if self.digit.is_none() {
            if let Some(d) = self.digits.pop_front() {
                self.digit = DigitSender::new(d, media.codec.clock_rate()).map(|s| (s, self.clock));
            }
        }
        if let Some((sender, start_ts)) = self.digit.as_mut() {
            let start_ts = *start_ts;
            match (sender.next_packet(), media.dtmf_payload_type) {
                (Some((payload, first)), Some(pt)) => {
                    self.send(pt, start_ts, first, &payload, socket, to);
                    self.pcm.clear();
                    self.clock = self.clock.wrapping_add(frame_ticks);
                    return;
                }
                _ => {
                    self.digit = None;
                    self.talk_spurt = true;
                }
            }
        }
        if self.pcm.is_empty() {
            self.pcm_ts = self.clock;
        }
        self.clock = self.clock.wrapping_add(frame_ticks);
        self.pcm.extend_from_slice(frame);
        let per_packet = media.ptime.clamp(10, 120) as usize * 48;
        if self.pcm.len() < per_packet {
            return;
        }
        self.payload.clear();
        let encoded: Result<(), CodecError> =
            codec.encode(&self.pcm[..per_packet], &mut self.payload);
        self.pcm.drain(..per_packet);
        let ts = self.pcm_ts;
        self.pcm_ts = self.pcm_ts.wrapping_add(per_packet as u32 / per_tick);
        if let Err(e) = encoded {
            warn!(error = %e, "encode failed");
            return;
        }
        let payload = std::mem::take(&mut self.payload);
        let marker = std::mem::replace(&mut self.talk_spurt, false);
        self.send(media.payload_type, ts, marker, &payload, socket, to);
        self.payload = payload;
    }

    fn send(
        &mut self,
        pt: u8,
        timestamp: u32,
        marker: bool,
        payload: &[u8],
        socket: &UdpSocket,
        to: SocketAddr,
    ) {
        self.header.payload_type = pt;
        self.header.timestamp = timestamp;
        self.header.marker = marker;
        let Ok(n) = self.header.marshal_to(&mut self.packet) else {
            return;
        };
        let end = n + payload.len();
        if end > self.packet.len() {
            return;
        }
        self.packet[n..end].copy_from_slice(payload);
        if self.protection.send(&self.packet[..end], false, socket, to) {
            self.packets = self.packets.wrapping_add(1);
            self.octets = self.octets.wrapping_add(payload.len() as u32);
        } else {
            self.send_errors += 1;
        }
        self.header.sequence_number = self.header.sequence_number.wrapping_add(1);
    }

    /// Whether an RTCP report is due; if so the next one is scheduled.
    pub fn rtcp_due(&mut self, now: Instant) -> bool {
        if now < self.next_rtcp {
            return false;
        }
        self.next_rtcp = now + RTCP_INTERVAL;
        true
    }

    /// A sender report if we have sent, else a receiver report, with `block`.
    pub fn report(&self, block: Option<rtc_rtcp::reception_report::ReceptionReport>) -> Vec<u8> {
        let reports: Vec<_> = block.into_iter().collect();
        let packet: Box<dyn rtc_rtcp::packet::Packet> = if self.packets > 0 {
            Box::new(SenderReport {
                ssrc: self.header.ssrc,
                ntp_time: ntp_time(SystemTime::now()),
                rtp_time: self.clock,
                packet_count: self.packets,
                octet_count: self.octets,
                reports,
                ..SenderReport::default()
            })
        } else {
            Box::new(ReceiverReport {
                ssrc: self.header.ssrc,
                reports,
                ..ReceiverReport::default()
            })
        };
        rtc_rtcp::packet::marshal(&[packet])
            .map(|b| b.to_vec())
            .unwrap_or_default()
    }
}
