//! The connector leg: a room call joins its meeting as a WebRTC participant
//! through a [`MeetingService`] session, exactly as a browser does — join
//! with the meeting's password and the room's name, publish one Opus track
//! (the room's audio, encoded on the media thread), and answer the
//! service's subscribe offers to receive every other participant. Each
//! received audio track feeds a jitter buffer the media thread mixes from.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc as std_mpsc, Arc, Mutex};
use std::time::Instant;

use meeting::protocol::{ClientMessage, Connection, ParticipantKind, ServerMessage};
use meeting::rtc::{peer_connection, PeerEvent};
use meeting::{MeetingService, Session};
use rtc::media_stream::MediaStreamTrack;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use tokio::sync::mpsc;
use tracing::{info, warn};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{PeerConnection, RTCSessionDescription};

use crate::engine::bridge::{MeetingStream, PublishTo, OPUS_PAYLOAD_TYPE};
use crate::engine::inbound::Inbound;
use crate::engine::Command;
use crate::{LegId, MediaEvent, MeetingJoin};

/// Stream ids, unique in the process.
static NEXT_STREAM: AtomicU64 = AtomicU64::new(1);

/// What a connector needs from the engine.
pub(crate) struct Context {
    pub service: Arc<dyn MeetingService>,
    pub rtc_ip: IpAddr,
    pub worker: std_mpsc::Sender<Command>,
    pub events: mpsc::UnboundedSender<MediaEvent>,
    /// The room was muted or unmuted (admin API): tell the meeting. Closed
    /// when the leg is gone: leave.
    pub muted: mpsc::UnboundedReceiver<bool>,
}

/// Runs leg `leg`'s participation in its meeting until the leg is gone or
/// the service ends it; closes its peer connections either way.
pub(crate) async fn run(leg: LegId, join: MeetingJoin, mut cx: Context) {
    let reason = match participate(leg, &join, &mut cx).await {
        Ok(Ended::LegGone) => return,
        Ok(Ended::ByService) => "the meeting service ended the session".to_owned(),
        Err(e) => e,
    };
    let _ = cx.worker.send(Command::Unbridge(leg));
    warn!(leg = leg.0, meeting = %join.meeting, "left the meeting: {reason}");
    let _ = cx.events.send(MediaEvent::MeetingLost { leg, reason });
}

/// Why a participation ended without an error.
enum Ended {
    LegGone,
    ByService,
}

/// One signaling session's messages, both ways.
struct Signaling {
    to_service: mpsc::Sender<ClientMessage>,
    from_service: mpsc::Receiver<ServerMessage>,
}

impl Signaling {
    async fn send(&self, message: ClientMessage) -> Result<(), String> {
        self.to_service
            .send(message)
            .await
            .map_err(|_| "session closed".to_owned())
    }
}

async fn participate(leg: LegId, join: &MeetingJoin, cx: &mut Context) -> Result<Ended, String> {
    let Session {
        to_service,
        from_service,
    } = cx.service.connect();
    let mut signaling = Signaling {
        to_service,
        from_service,
    };
    signaling
        .send(ClientMessage::Join {
            meeting: join.meeting.clone(),
            password: join.password.clone(),
            name: join.display_name.clone(),
            kind: ParticipantKind::Room,
        })
        .await?;
    match signaling.from_service.recv().await {
        Some(ServerMessage::Joined { id, .. }) => {
            info!(leg = leg.0, meeting = %join.meeting, participant = %id, "room joined the meeting")
        }
        Some(ServerMessage::Error { message, .. }) => return Err(message),
        other => return Err(format!("unexpected answer to join: {other:?}")),
    }
    let (events_tx, events) = mpsc::unbounded_channel();
    let err = |e: webrtc::error::Error| e.to_string();
    let publish = peer_connection(&[cx.rtc_ip], Connection::Publish, events_tx.clone())
        .await
        .map_err(err)?;
    let subscribe = peer_connection(&[cx.rtc_ip], Connection::Subscribe, events_tx).await;
    let result = match &subscribe {
        Ok(subscribe) => {
            let pcs = [publish.clone(), subscribe.clone()];
            exchange(leg, join, cx, &pcs, &mut signaling, events).await
        }
        Err(e) => Err(e.to_string()),
    };
    // Leave first, so the meeting frees the seat at once; then close the
    // peer connections (left open they would keep their tasks and sockets).
    drop(signaling);
    let _ = publish.close().await;
    if let Ok(subscribe) = subscribe {
        let _ = subscribe.close().await;
    }
    result
}

/// Publishes the room, receives the meeting, until either side ends.
async fn exchange(
    leg: LegId,
    join: &MeetingJoin,
    cx: &mut Context,
    [publish, subscribe]: &[Arc<dyn PeerConnection>; 2],
    signaling: &mut Signaling,
    mut events: mpsc::UnboundedReceiver<PeerEvent>,
) -> Result<Ended, String> {
    let err = |e: webrtc::error::Error| e.to_string();
    let ssrc = rand::random::<u32>();
    let track = Arc::new(room_track(leg, ssrc));
    publish.add_track(track.clone()).await.map_err(err)?;
    let offer = publish.create_offer(None).await.map_err(err)?;
    publish
        .set_local_description(offer.clone())
        .await
        .map_err(err)?;
    signaling
        .send(ClientMessage::Publish {
            sdp: offer.sdp.clone(),
        })
        .await?;

    let (packets_tx, mut packets) = mpsc::channel(25);
    let level_id = meeting::rtc::extmap_id(&offer.sdp, meeting::rtc::AUDIO_LEVEL_URI);
    let _ = cx.worker.send(Command::Bridge {
        leg,
        meeting: join.meeting.clone(),
        publish: PublishTo {
            ssrc,
            audio_level_id: level_id,
            packets: packets_tx,
        },
    });
    loop {
        tokio::select! {
            message = signaling.from_service.recv() => match message {
                None => return Ok(Ended::ByService),
                Some(message) => on_service(message, publish, subscribe, &signaling.to_service).await?,
            },
            Some(event) = events.recv() => match event {
                PeerEvent::Candidate(connection, candidate) => {
                    signaling.send(ClientMessage::Candidate { connection, candidate }).await?;
                }
                PeerEvent::Track(remote) => hear(leg, remote, cx).await,
                PeerEvent::State(..) => {}
            },
            muted = cx.muted.recv() => match muted {
                Some(muted) => signaling.send(ClientMessage::Mute { audio: muted, video: false }).await?,
                None => return Ok(Ended::LegGone),
            },
            Some(packet) = packets.recv() => {
                // Fails only until the publish connection is up.
                let _ = track.write_rtp(packet).await;
            }
        }
    }
}

/// The room's published track: Opus, in a stream named after the leg.
fn room_track(leg: LegId, ssrc: u32) -> TrackLocalStaticRTP {
    let opus = meeting::rtc::codecs()
        .into_iter()
        .find(|(_, c)| c.payload_type == OPUS_PAYLOAD_TYPE)
        .map(|(_, c)| c.rtp_codec)
        .expect("the meeting carries Opus");
    TrackLocalStaticRTP::new(MediaStreamTrack::new(
        format!("room-{}", leg.0),
        format!("room-{}-audio", leg.0),
        "room audio".to_owned(),
        RtpCodecKind::Audio,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                ..Default::default()
            },
            codec: opus,
            ..Default::default()
        }],
    ))
}

/// Handles one message of the meeting service.
async fn on_service(
    message: ServerMessage,
    publish: &Arc<dyn PeerConnection>,
    subscribe: &Arc<dyn PeerConnection>,
    to_service: &mpsc::Sender<ClientMessage>,
) -> Result<(), String> {
    let err = |e: webrtc::error::Error| e.to_string();
    match message {
        ServerMessage::PublishAnswer { sdp } => {
            let answer = RTCSessionDescription::answer(sdp).map_err(err)?;
            publish.set_remote_description(answer).await.map_err(err)?;
        }
        ServerMessage::Subscribe { sdp } => {
            let offer = RTCSessionDescription::offer(sdp).map_err(err)?;
            subscribe.set_remote_description(offer).await.map_err(err)?;
            let answer = subscribe.create_answer(None).await.map_err(err)?;
            subscribe
                .set_local_description(answer.clone())
                .await
                .map_err(err)?;
            let _ = to_service
                .send(ClientMessage::SubscribeAnswer { sdp: answer.sdp })
                .await;
        }
        ServerMessage::Candidate {
            connection,
            candidate,
        } => {
            let pc = match connection {
                Connection::Publish => publish,
                Connection::Subscribe => subscribe,
            };
            pc.add_ice_candidate(candidate).await.map_err(err)?;
        }
        ServerMessage::Error { code, message } => {
            warn!(%code, "meeting service: {message}");
        }
        _ => {}
    }
    Ok(())
}

/// Feeds a received track to the media thread (audio), or just drains it
/// (video, until rooms get video).
async fn hear(leg: LegId, remote: Arc<dyn TrackRemote>, cx: &Context) {
    if remote.kind().await != RtpCodecKind::Audio {
        tokio::spawn(async move { while remote.poll().await.is_some() {} });
        return;
    }
    let participant = remote.stream_id().await.to_string();
    let id = NEXT_STREAM.fetch_add(1, Ordering::Relaxed);
    let inbound = Arc::new(Mutex::new(Inbound::new(48000)));
    let stream = MeetingStream {
        id,
        participant,
        inbound: inbound.clone(),
    };
    let _ = cx.worker.send(Command::AddStream(leg, stream));
    let worker = cx.worker.clone();
    tokio::spawn(async move {
        while let Some(event) = remote.poll().await {
            match event {
                TrackRemoteEvent::OnRtpPacket(packet) => {
                    let h = &packet.header;
                    inbound.lock().expect("stream state").accept(
                        h.ssrc,
                        h.sequence_number,
                        h.timestamp,
                        &packet.payload,
                        20,
                        Instant::now(),
                    );
                }
                TrackRemoteEvent::OnEnded => break,
                _ => {}
            }
        }
        let _ = worker.send(Command::RemoveStream(leg, id));
    });
}
