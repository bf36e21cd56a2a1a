//! The receive side of a leg, run by its media worker when the leg's
//! sockets are readable: RTP into the jitter buffer and reception
//! statistics, RFC 4733 digits out, RTCP reports in (sender reports for
//! LSR, reception reports for RTT), and the room's source address latched
//! for symmetric RTP. On an encrypted stream each packet is first checked
//! and decrypted (SRTP/SRTCP); one that fails is dropped and counted.

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rtc_rtcp::receiver_report::ReceiverReport;
use rtc_rtcp::reception_report::ReceptionReport;
use rtc_rtcp::sender_report::SenderReport;
use rtc_rtp::Header;
use rtc_shared::marshal::Unmarshal;
use tracing::{debug, warn};

use super::inbound::Inbound;
use crate::dtls::is_dtls;
use crate::params::AudioParams;
use crate::rtp_stats::{ntp_middle, ntp_time, round_trip};
use crate::srtp::SrtpReceive;
use crate::telephone_event::DigitDetector;
use media_api::LegId;

/// What the worker's receive path and mixing share about a leg, and the
/// engine reads and configures.
#[derive(Debug)]
pub(crate) struct LegState {
    pub media: Option<AudioParams>,
    /// Where RTP goes: the SDP address until the room's packets show its real one.
    pub remote_rtp: Option<SocketAddr>,
    pub remote_rtcp: Option<SocketAddr>,
    pub inbound: Inbound,
    /// Our SSRC, for finding the room's reports about our stream.
    pub our_ssrc: u32,
    pub rtt: Option<Duration>,
    /// The room's last report on our stream.
    pub their_report: Option<ReceptionReport>,
    pub malformed: u64,
    /// What checks and decrypts the room's packets, when encrypted.
    pub srtp: SrtpReceive,
}

impl LegState {
    pub fn new(our_ssrc: u32) -> LegState {
        LegState {
            media: None,
            remote_rtp: None,
            remote_rtcp: None,
            inbound: Inbound::new(8000),
            our_ssrc,
            rtt: None,
            their_report: None,
            malformed: 0,
            srtp: SrtpReceive::default(),
        }
    }

    /// Applies new negotiated parameters; the SDP address replaces a
    /// latched one. SRTP state is kept while the keys stay the same.
    pub fn configure(&mut self, media: AudioParams) -> Result<(), String> {
        self.srtp.set(media.crypto.as_ref())?;
        let clock = media.codec.clock_rate();
        if self.media.as_ref().is_none_or(|m| m.codec != media.codec) {
            self.inbound = Inbound::new(clock);
        }
        self.remote_rtp = media.remote_rtp;
        self.remote_rtcp = media.remote_rtcp;
        self.media = Some(media);
        Ok(())
    }
}

pub(crate) type Shared = Arc<Mutex<LegState>>;

/// True for RTCP sharing the RTP port: packet types 192–223 (RFC 5761
/// §4), feedback (205, 206) included.
pub(crate) fn is_rtcp(packet: &[u8]) -> bool {
    packet.len() >= 8 && (192..=223).contains(&packet[1])
}

/// True for STUN on a media port (RFC 7983: first byte 0–3), which rooms
/// send as keepalives (linphone, ICE-capable rooms); not media, not an error.
pub(crate) fn is_stun(packet: &[u8]) -> bool {
    packet.first().is_some_and(|&b| b < 4)
}

/// What the receive path hands back to the worker.
pub(crate) enum Received<'a> {
    /// A key press started (RFC 4733).
    Digit(char),
    /// A DTLS record, for the stream's handshake.
    Dtls(&'a [u8], SocketAddr),
}

/// Reads what waits on one of a leg's sockets until it would block (the
/// worker's poll is edge-triggered): RTP into the jitter buffer, RTCP
/// reports; key presses and DTLS records to `on`.
pub(crate) fn drain(
    id: LegId,
    socket: &UdpSocket,
    rtcp_port: bool,
    buf: &mut [u8],
    state: &Shared,
    digits: &mut DigitDetector,
    mut on: impl FnMut(Received),
) {
    each_datagram(id, socket, buf, |packet, from| {
        if is_stun(packet) {
            return;
        }
        if is_dtls(packet) {
            return on(Received::Dtls(packet, from));
        }
        let rtcp = rtcp_port || is_rtcp(packet);
        let opened = state
            .lock()
            .expect("leg state")
            .srtp
            .open(packet, rtcp, id.0, from);
        let packet = match &opened {
            Ok(None) => packet,
            Ok(Some(clear)) => &clear[..],
            Err(_) => return,
        };
        if rtcp {
            on_rtcp(id, packet, from, state);
        } else if let Some(digit) = on_rtp(id, packet, from, state, digits) {
            debug!(leg = id.0, %digit, "RFC 4733 digit");
            on(Received::Digit(digit));
        }
    });
}

/// Hands each datagram waiting on `socket` to `handle`, until the socket
/// would block.
pub(crate) fn each_datagram(
    id: LegId,
    socket: &UdpSocket,
    buf: &mut [u8],
    mut handle: impl FnMut(&[u8], SocketAddr),
) {
    loop {
        let (n, from) = match socket.recv_from(buf) {
            Ok(got) => got,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            // An ICMP error from an earlier send, or a signal: read on.
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::ConnectionRefused | ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            Err(e) => {
                debug!(leg = id.0, error = %e, "receive failed");
                return;
            }
        };
        handle(&buf[..n], from);
    }
}

/// Handles one RTP packet; returns a digit when a key press starts.
fn on_rtp(
    id: LegId,
    packet: &[u8],
    from: SocketAddr,
    state: &Shared,
    digits: &mut DigitDetector,
) -> Option<char> {
    let mut slice = packet;
    let mut st = state.lock().expect("leg state");
    let Ok(header) = Header::unmarshal(&mut slice) else {
        st.malformed += 1;
        if st.malformed == 1 {
            warn!(leg = id.0, source = %from, "malformed RTP packet (counting further ones silently)");
        }
        return None;
    };
    let media = st.media.as_ref()?;
    let (audio_pt, dtmf_pt, ptime) = (media.payload_type, media.dtmf_payload_type, media.ptime);
    let payload = &packet[packet.len() - slice.len()..];
    let payload = strip_padding(&header, payload);
    if header.payload_type == audio_pt {
        st.remote_rtp = Some(from);
        st.inbound.accept(
            header.ssrc,
            header.sequence_number,
            header.timestamp,
            payload,
            ptime,
            Instant::now(),
        );
        None
    } else if Some(header.payload_type) == dtmf_pt {
        st.remote_rtp = Some(from);
        digits.on_packet(header.timestamp, payload)
    } else {
        None
    }
}

pub(crate) fn strip_padding<'a>(header: &Header, payload: &'a [u8]) -> &'a [u8] {
    if !header.padding {
        return payload;
    }
    let pad = payload.last().copied().unwrap_or(0) as usize;
    &payload[..payload.len().saturating_sub(pad)]
}

fn on_rtcp(id: LegId, packet: &[u8], from: SocketAddr, state: &Shared) {
    let mut slice = packet;
    let Ok(packets) = rtc_rtcp::packet::unmarshal(&mut slice) else {
        debug!(leg = id.0, source = %from, "undecodable RTCP");
        return;
    };
    let now = Instant::now();
    let arrival = ntp_middle(ntp_time(SystemTime::now()));
    let mut st = state.lock().expect("leg state");
    st.remote_rtcp = Some(from);
    for p in &packets {
        let reports: &[ReceptionReport] =
            if let Some(sr) = p.as_any().downcast_ref::<SenderReport>() {
                st.inbound.stats.on_sender_report(sr.ntp_time, now);
                &sr.reports
            } else if let Some(rr) = p.as_any().downcast_ref::<ReceiverReport>() {
                &rr.reports
            } else {
                &[]
            };
        let ours = st.our_ssrc;
        if let Some(r) = reports.iter().find(|r| r.ssrc == ours).cloned() {
            if let Some(rtt) = round_trip(arrival, r.last_sender_report, r.delay) {
                st.rtt = Some(rtt);
            }
            st.their_report = Some(r);
        }
    }
}
