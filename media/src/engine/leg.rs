//! A room leg as its media worker holds it: the negotiated codec, its
//! jitter buffer's frame decoder, prompts, in-band key tones, its stream
//! into the meeting, the RTP/RTCP it sends, and its video stream. Moves between workers
//! whole (when it joins a meeting that lives on another worker).

use std::net::UdpSocket;
use std::time::Instant;

use meeting::speaker::SpeakerDetector;

use super::inbound::FrameDecoder;
use super::publisher::Publisher;
use super::receive::{LegState, Shared};
use super::sender::Sender;
use crate::audio::{Codec, Frame, FRAME};
use crate::dtls::DtlsStream;
use crate::mixer::level;
use crate::params::AudioParams;
use crate::prompts::PromptPlayer;
use crate::telephone_event::DigitDetector;
use crate::tones::ToneDetector;
use crate::video::VideoLeg;
use media_api::{Direction, LegStats};

/// A leg's presence in its meeting.
pub(crate) struct Bridge {
    pub meeting: String,
    pub publisher: Publisher,
    pub speaker: SpeakerDetector<u64>,
}

pub(crate) struct Leg {
    pub shared: Shared,
    pub rtp: UdpSocket,
    pub rtcp: UdpSocket,
    pub media: Option<AudioParams>,
    pub codec: Option<Box<dyn Codec>>,
    pub decoder: FrameDecoder,
    pub bridge: Option<Bridge>,
    pub muted: bool,
    pub prompts: PromptPlayer,
    pub tones: ToneDetector,
    /// RFC 4733 key presses in what the room sends.
    pub digits: DigitDetector,
    /// The room's last 20 ms, decoded.
    pub input: Frame,
    /// Whether `input` holds anything the room sent.
    pub heard: bool,
    pub level: u8,
    /// What the room hears next.
    pub output: Frame,
    pub sender: Sender,
    /// Participants the room hears (for its stats).
    pub hears: usize,
    pub video: Option<Box<VideoLeg>>,
    /// The audio's DTLS-SRTP handshakes, when it is keyed that way.
    pub dtls: Option<DtlsStream>,
}

impl Leg {
    pub fn new(
        shared: Shared,
        rtp: UdpSocket,
        rtcp: UdpSocket,
        ssrc: u32,
        video: Option<Box<VideoLeg>>,
    ) -> Leg {
        Leg {
            shared,
            rtp,
            rtcp,
            media: None,
            codec: None,
            decoder: FrameDecoder::default(),
            bridge: None,
            muted: false,
            prompts: PromptPlayer::default(),
            tones: ToneDetector::default(),
            digits: DigitDetector::default(),
            input: [0; FRAME],
            heard: false,
            level: 127,
            output: [0; FRAME],
            sender: Sender::new(ssrc, Instant::now()),
            hears: 0,
            video,
            dtls: None,
        }
    }

    /// The leg's sockets: (RTP, RTCP) for audio, then for video.
    pub fn sockets(&self) -> impl Iterator<Item = (&UdpSocket, bool, bool)> {
        let video = self
            .video
            .iter()
            .flat_map(|v| [(&v.rtp, true, false), (&v.rtcp, true, true)]);
        [(&self.rtp, false, false), (&self.rtcp, false, true)]
            .into_iter()
            .chain(video)
    }

    /// How wide the room's audio is: no wider goes into the meeting
    /// (narrowband Opus for G.711).
    pub fn audio_hz(&self) -> u32 {
        self.media.as_ref().map_or(48000, |m| {
            m.options
                .max_playback_rate
                .unwrap_or(48000)
                .min(m.codec.audio_rate())
        })
    }

    /// Whether the room's audio goes into its meeting.
    pub fn contributes(&self) -> bool {
        self.heard
            && !self.muted
            && self
                .media
                .as_ref()
                .is_some_and(|m| m.direction == Direction::SendRecv)
    }

    /// Decodes the next 20 ms from the jitter buffer into `input`.
    pub fn pull(&mut self, now: Instant) {
        let Some(codec) = self.codec.as_mut() else {
            self.heard = false;
            self.level = 127;
            return;
        };
        let ptime = self.media.as_ref().map_or(20, |m| m.ptime);
        self.heard = self.decoder.pull(
            now,
            &self.shared,
            |st: &mut LegState| &mut st.inbound.jitter,
            codec.as_mut(),
            ptime,
            &mut self.input,
        );
        self.level = level(&self.input);
    }

    /// Sends `output` if the negotiated direction lets us.
    pub fn push(&mut self) {
        let (Some(media), Some(codec)) = (self.media.as_ref(), self.codec.as_mut()) else {
            return;
        };
        if !matches!(media.direction, Direction::SendRecv | Direction::SendOnly) {
            return;
        }
        let Some(to) = self.shared.lock().expect("leg state").remote_rtp else {
            return;
        };
        self.sender
            .push_frame(&self.output, media, codec.as_mut(), &self.rtp, to);
    }

    pub fn send_rtcp(&mut self, now: Instant) {
        if !self.sender.rtcp_due(now) {
            return;
        }
        let (block, to) = {
            let mut st = self.shared.lock().expect("leg state");
            (st.inbound.stats.report_block(now), st.remote_rtcp)
        };
        if let Some(to) = to {
            let report = self.sender.report(block);
            let socket = if self.media.as_ref().is_some_and(|m| m.rtcp_mux) {
                &self.rtp
            } else {
                &self.rtcp
            };
            self.sender.send_rtcp(&report, socket, to);
        }
    }

    pub fn stats(&self) -> LegStats {
        let video_drops = self
            .video
            .as_ref()
            .map(|v| v.srtp_drops())
            .unwrap_or_default();
        let st = self.shared.lock().expect("leg state");
        let stats = &st.inbound.stats;
        let expected = stats.expected();
        LegStats {
            codec: self.media.as_ref().map(|m| m.codec.rtpmap().to_owned()),
            remote: st.remote_rtp.map(|a| a.to_string()),
            packets_received: stats.received(),
            packets_lost: stats.lost(),
            loss_percent: if expected > 0 {
                (stats.lost().max(0) as f64 * 100.0 / expected as f64 * 10.0).round() / 10.0
            } else {
                0.0
            },
            jitter_ms: (stats.jitter_ms() * 10.0).round() / 10.0,
            rtt_ms: st.rtt.map(|d| (d.as_secs_f64() * 10000.0).round() / 10.0),
            packets_sent: self.sender.packets,
            level: self.level,
            muted: self.muted,
            jitter_buffer: st.inbound.jitter.stats(),
            meeting_streams: self.hears,
            their_fraction_lost: st.their_report.as_ref().map(|r| r.fraction_lost),
            video: self.video.as_ref().map(|v| v.stats()),
            srtp_auth_failures: st.srtp.drops.auth + video_drops.auth,
            srtp_replays: st.srtp.drops.replay + video_drops.replay,
        }
    }
}
