//! One published track and its fan-out: RTP from the publisher is copied to
//! a local track per subscriber (its own SSRC, the service's payload type,
//! header extensions dropped since each leg negotiates its own). A new
//! subscriber's video starts at a keyframe: until one has gone out to it,
//! other frames are held back and the publisher is asked for one (PLI, at
//! most every [`KEYFRAME_RETRY`]). Keyframe requests (PLI/FIR) from any
//! subscriber are passed on too. NACKs are answered hop by hop by the
//! interceptors on each connection.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use rtc::media_stream::MediaStreamTrack;
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use tokio::sync::{mpsc, RwLock};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use super::keyframe::starts_keyframe;
use super::room::{Notice, SessionId};
use crate::protocol::ServerMessage;
use crate::rtc::{audio_level, payload_type};

/// How long a subscriber waiting for a keyframe waits before the publisher
/// is asked again.
pub(crate) const KEYFRAME_RETRY: Duration = Duration::from_millis(500);

/// Published track numbers, unique in the process.
static NEXT_TRACK: AtomicU64 = AtomicU64::new(1);

/// A participant's published track.
pub(crate) struct Published {
    /// Unique among tracks (the active-speaker key).
    pub number: u64,
    /// The publisher's participant id (also the stream id subscribers see).
    pub participant: String,
    /// The session it came on (which does not get it back).
    pub session: SessionId,
    pub kind: RtpCodecKind,
    /// The negotiated id of the RFC 6464 audio-level extension, if any.
    audio_level_id: Option<u8>,
    /// Loudest level (-dBov) since the active-speaker check last looked.
    level: AtomicU8,
    codec: RTCRtpCodec,
    payload_type: u8,
    remote: Arc<dyn TrackRemote>,
    ssrc: u32,
    outputs: RwLock<Vec<Output>>,
    /// When the publisher was last asked for a keyframe.
    keyframe_requested: Mutex<Option<Instant>>,
    /// A gateway publisher's session, told of keyframe requests too.
    to_publisher: Option<mpsc::UnboundedSender<Notice>>,
}

struct Output {
    subscriber: SessionId,
    track: Arc<TrackLocalStaticRTP>,
    ssrc: u32,
    /// Video only: no keyframe has reached this subscriber yet.
    awaits_keyframe: AtomicBool,
}

impl Published {
    /// Wraps a remote track whose codec the service forwards; its audio
    /// levels come in the extension with id `audio_level_id`.
    pub async fn new(
        participant: String,
        session: SessionId,
        remote: Arc<dyn TrackRemote>,
        audio_level_id: Option<u8>,
        to_publisher: Option<mpsc::UnboundedSender<Notice>>,
    ) -> Option<Published> {
        let ssrc = *remote.ssrcs().await.first()?;
        let codec = remote.codec(ssrc).await?;
        Some(Published {
            number: NEXT_TRACK.fetch_add(1, Ordering::Relaxed),
            participant,
            session,
            kind: remote.kind().await,
            audio_level_id,
            level: AtomicU8::new(127),
            payload_type: payload_type(&codec.mime_type)?,
            codec,
            remote,
            ssrc,
            outputs: RwLock::new(Vec::new()),
            keyframe_requested: Mutex::new(None),
            to_publisher,
        })
    }

    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            RtpCodecKind::Video => "video",
            _ => "audio",
        }
    }

    /// A new local track for `subscriber`, fed from now on. Once it is added
    /// to the subscriber's connection, call [`Published::relay_feedback`].
    pub async fn subscribe(self: &Arc<Self>, subscriber: SessionId) -> Arc<TrackLocalStaticRTP> {
        let ssrc = rand::random::<u32>();
        let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
            self.participant.clone(),
            format!("{}-{}", self.participant, self.kind_name()),
            format!("{} {}", self.participant, self.kind_name()),
            self.kind,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(ssrc),
                    ..Default::default()
                },
                codec: self.codec.clone(),
                ..Default::default()
            }],
        )));
        self.outputs.write().await.push(Output {
            subscriber,
            track: track.clone(),
            ssrc,
            awaits_keyframe: AtomicBool::new(self.kind == RtpCodecKind::Video),
        });
        track
    }

    /// Passes the subscriber's keyframe requests for `track` on to the
    /// publisher, and asks for a keyframe now for the new subscriber.
    pub fn relay_feedback(self: &Arc<Self>, track: Arc<TrackLocalStaticRTP>) {
        let published = self.clone();
        tokio::spawn(async move {
            published.request_keyframe().await;
            published.relay_keyframe_requests(track).await
        });
    }

    pub async fn unsubscribe(&self, subscriber: SessionId) {
        self.outputs
            .write()
            .await
            .retain(|o| o.subscriber != subscriber);
    }

    /// The loudest level heard since the last call (127: silence or nothing).
    pub fn take_level(&self) -> u8 {
        self.level.swap(127, Ordering::Relaxed)
    }

    /// `subscriber`'s connection is (again) up: what went before may never
    /// have reached it, so its video restarts at the next keyframe.
    pub async fn restart_at_keyframe(&self, subscriber: SessionId) {
        if self.kind != RtpCodecKind::Video {
            return;
        }
        for output in self.outputs.read().await.iter() {
            if output.subscriber == subscriber {
                output.awaits_keyframe.store(true, Ordering::Relaxed);
            }
        }
        self.request_keyframe().await;
    }

    /// Asks the publisher for a keyframe.
    pub async fn request_keyframe(&self) {
        if self.kind == RtpCodecKind::Video {
            *self.keyframe_requested.lock().expect("keyframe clock") = Some(Instant::now());
            let pli = PictureLossIndication {
                sender_ssrc: 0,
                media_ssrc: self.ssrc,
            };
            let _ = self.remote.write_rtcp(vec![Box::new(pli)]).await;
            if let Some(publisher) = &self.to_publisher {
                let participant = self.participant.clone();
                let wanted = ServerMessage::KeyframeWanted { participant };
                let _ = publisher.send(Notice::Message(wanted));
            }
        }
    }

    /// Copies the publisher's packets to every subscriber until the track ends.
    pub async fn forward(self: Arc<Self>) {
        while let Some(event) = self.remote.poll().await {
            match event {
                TrackRemoteEvent::OnRtpPacket(mut packet) => {
                    if let Some(level) = self
                        .audio_level_id
                        .and_then(|id| packet.header.get_extension(id))
                        .and_then(|ext| audio_level(&ext))
                    {
                        self.level.fetch_min(level, Ordering::Relaxed);
                    }
                    packet.header.extensions.clear();
                    packet.header.extension = false;
                    packet.header.payload_type = self.payload_type;
                    let keyframe = self.kind == RtpCodecKind::Video
                        && starts_keyframe(&self.codec.mime_type, &packet.payload);
                    let mut held_back = false;
                    for output in self.outputs.read().await.iter() {
                        let waiting = output.awaits_keyframe.load(Ordering::Relaxed);
                        if waiting && !keyframe {
                            held_back = true;
                            continue;
                        }
                        let mut copy = packet.clone();
                        copy.header.ssrc = output.ssrc;
                        // Fails only until the subscriber's connection is up.
                        let sent = output.track.write_rtp(copy).await.is_ok();
                        if waiting && !sent {
                            held_back = true;
                        }
                        output
                            .awaits_keyframe
                            .store(waiting && !sent, Ordering::Relaxed);
                    }
                    if held_back && self.keyframe_overdue() {
                        self.request_keyframe().await;
                    }
                }
                TrackRemoteEvent::OnEnded => break,
                _ => {}
            }
        }
    }

    fn keyframe_overdue(&self) -> bool {
        self.keyframe_requested
            .lock()
            .expect("keyframe clock")
            .is_none_or(|at| at.elapsed() >= KEYFRAME_RETRY)
    }

    /// Passes a subscriber's PLI/FIR on to the publisher.
    async fn relay_keyframe_requests(&self, track: Arc<TrackLocalStaticRTP>) {
        while let Some(event) = track.poll().await {
            if let TrackLocalEvent::OnRtcpPacket(packets) = event {
                let wants_keyframe = packets.iter().any(|p| {
                    p.as_any().is::<PictureLossIndication>() || p.as_any().is::<FullIntraRequest>()
                });
                if wants_keyframe {
                    self.request_keyframe().await;
                }
            }
        }
    }
}
