//! The media hub of one meeting on this node: every local room of the
//! meeting reaches the meeting service through **one** gateway session and
//! one pair of peer connections. Each room is still its own participant
//! (added with its password and name, muted on its own) and publishes its
//! own Opus track, and its camera as a video track (forwarded as the room
//! sends it, H.264 or VP8), in a media stream named by its participant id;
//! the meeting's keyframe requests for the camera (the embedded service
//! says them in the session; webrtc 0.21 does not surface the RTCP PLI on
//! the publish connection) go back to the room through its media worker;
//! the hub
//! receives each other participant's audio once (the service sends a
//! gateway none of its own rooms) and hands it to the meeting's media
//! worker, which decodes it once and mixes mix-minus for every local room
//! — rooms of the same node hear each other there; and each other
//! participant's camera once, for the meeting's video worker, which
//! decodes it while a room watches it (its keyframe requests go back as
//! RTCP PLI on the subscribe connection). Adding or removing a
//! room renegotiates only the publish connection; the other tracks keep
//! flowing. The hub ends when the engine drops its last handle (the last
//! room left) or the service ends the session.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use meeting::protocol::{ClientMessage, Connection, ServerMessage};
use meeting::rtc::{accept_answer, answer, offer, peer_connection, PeerEvent};
use meeting::{MeetingService, Session};
use rtc::media_stream::MediaStreamTrack;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc_rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc_rtp::Packet;
use tokio::sync::mpsc;
use tracing::{info, warn};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::PeerConnection;
use webrtc::rtp_transceiver::RtpSender;

use crate::engine::publisher::{PublishTo, OPUS_PAYLOAD_TYPE};
use crate::engine::stream::MeetingStream;
use crate::engine::{Command, Workers};
use crate::video::{KeyframeAsk, Member, PublishVideo, VideoCommand, VideoWorkers};
use media_api::layout::Layout;
use media_api::{LegId, MediaEvent, MeetingJoin, VideoCodec};

/// Stream ids, unique in the process.
static NEXT_STREAM: AtomicU64 = AtomicU64::new(1);

/// What the engine asks of a hub.
pub(crate) enum HubCommand {
    /// Make this leg a participant of the meeting, with its camera in
    /// this codec if it has one.
    Add(LegId, MeetingJoin, Option<VideoCodec>),
    /// The leg is gone (or leaves the meeting).
    Remove(LegId),
    /// The room's camera is now in this codec (None: it sends none).
    Camera(LegId, Option<VideoCodec>),
    /// The room was muted or unmuted (admin API): tell the meeting.
    Mute(LegId, bool),
}

/// What a hub needs from the engine.
pub(crate) struct Context {
    pub service: Arc<dyn MeetingService>,
    pub rtc_ip: IpAddr,
    pub workers: Workers,
    pub video: VideoWorkers,
    pub events: mpsc::UnboundedSender<MediaEvent>,
    /// Peer connections the hubs of this node hold.
    pub peer_connections: Arc<AtomicU64>,
}

/// Runs the hub of `meeting` until the engine drops its handle or the
/// service ends the session; every leg still in it is told it was lost.
pub(crate) async fn run(
    meeting: String,
    commands: mpsc::UnboundedReceiver<HubCommand>,
    cx: Context,
) {
    let mut hub = Hub {
        meeting,
        cx,
        rooms: HashMap::new(),
        pending: HashMap::new(),
        audio_level_id: None,
        offering: false,
        reoffer: false,
    };
    let reason = match hub.serve(commands).await {
        Ok(()) => return,
        Err(reason) => reason,
    };
    warn!(meeting = %hub.meeting, "the meeting's hub ended: {reason}");
    let legs = hub.rooms.keys().chain(hub.pending.keys());
    for &leg in legs {
        let _ = hub.cx.workers.leg(leg, Command::Unbridge(leg));
        let lost = MediaEvent::MeetingLost {
            leg,
            reason: reason.clone(),
        };
        let _ = hub.cx.events.send(lost);
    }
}

/// A local room that is a participant of the meeting.
struct Room {
    participant: String,
    track: Arc<TrackLocalStaticRTP>,
    sender: Arc<dyn RtpSender>,
    ssrc: u32,
    video: Option<RoomVideo>,
    layout: Option<Layout>,
    /// Not yet told to the media worker (waits for the publish offer,
    /// which names the audio-level extension).
    bridged: bool,
}

/// A room's camera, published.
struct RoomVideo {
    codec: VideoCodec,
    track: Arc<TrackLocalStaticRTP>,
    sender: Arc<dyn RtpSender>,
    ssrc: u32,
    payload_type: u8,
}

impl RoomVideo {
    /// Where the room's worker sends the camera's packets.
    fn publish_to(&self, queues: &Queues) -> PublishVideo {
        PublishVideo {
            ssrc: self.ssrc,
            payload_type: self.payload_type,
            packets: queues.video.clone(),
        }
    }
}

/// A leg asked for and not yet answered.
struct Pending {
    muted: bool,
    video: Option<VideoCodec>,
    /// Its name in the meeting.
    name: String,
    /// Its own layout (its dial string's).
    layout: Option<Layout>,
}

struct Hub {
    meeting: String,
    cx: Context,
    rooms: HashMap<LegId, Room>,
    /// Legs asked for and not yet answered, with their mute state.
    pending: HashMap<LegId, Pending>,
    audio_level_id: Option<u8>,
    /// A publish offer is out.
    offering: bool,
    /// Rooms changed while an offer was out.
    reoffer: bool,
}

/// The gateway session's messages, both ways, and its connections.
struct Link {
    to_service: mpsc::Sender<ClientMessage>,
    from_service: mpsc::Receiver<ServerMessage>,
    publish: Arc<dyn PeerConnection>,
    subscribe: Arc<dyn PeerConnection>,
    peer_events: mpsc::UnboundedReceiver<PeerEvent>,
}

impl Link {
    async fn send(&self, message: ClientMessage) -> Result<(), String> {
        self.to_service
            .send(message)
            .await
            .map_err(|_| "session closed".to_owned())
    }
}

fn err(e: webrtc::error::Error) -> String {
    e.to_string()
}

impl Hub {
    async fn serve(
        &mut self,
        mut commands: mpsc::UnboundedReceiver<HubCommand>,
    ) -> Result<(), String> {
        let Session {
            to_service,
            mut from_service,
        } = self.cx.service.connect_gateway();
        let open = ClientMessage::Gateway {
            meeting: self.meeting.clone(),
            video: true,
        };
        to_service.send(open).await.map_err(|_| "session closed")?;
        match from_service.recv().await {
            Some(ServerMessage::GatewayOpened { participants, .. }) => {
                info!(meeting = %self.meeting, "gateway session open");
                for p in participants {
                    self.named(&p.id, Some(member(p.name, p.audio_muted)));
                }
            }
            Some(ServerMessage::Error { message, .. }) => return Err(message),
            other => return Err(format!("unexpected answer to gateway: {other:?}")),
        }
        let (events_tx, peer_events) = mpsc::unbounded_channel();
        let ips = [self.cx.rtc_ip];
        let publish = peer_connection(&ips, Connection::Publish, events_tx.clone())
            .await
            .map_err(err)?;
        let subscribe = peer_connection(&ips, Connection::Subscribe, events_tx).await;
        let subscribe = match subscribe {
            Ok(subscribe) => subscribe,
            Err(e) => {
                let _ = publish.close().await;
                return Err(e.to_string());
            }
        };
        self.cx.peer_connections.fetch_add(2, Ordering::Relaxed);
        let mut link = Link {
            to_service,
            from_service,
            publish,
            subscribe,
            peer_events,
        };
        let result = self.exchange(&mut link, &mut commands).await;
        // Leave first, so the meeting frees the seats at once; then close
        // the peer connections (left open they would keep their tasks).
        let Link {
            to_service,
            publish,
            subscribe,
            ..
        } = link;
        drop(to_service);
        let _ = publish.close().await;
        let _ = subscribe.close().await;
        self.cx.peer_connections.fetch_sub(2, Ordering::Relaxed);
        result
    }

    async fn exchange(
        &mut self,
        link: &mut Link,
        commands: &mut mpsc::UnboundedReceiver<HubCommand>,
    ) -> Result<(), String> {
        let (packets_tx, mut packets) = mpsc::channel::<(LegId, Packet)>(1024);
        let (video_tx, mut video_packets) = mpsc::channel::<(LegId, Packet)>(4096);
        let queues = Queues {
            audio: packets_tx,
            video: video_tx,
        };
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    None => return Ok(()),
                    Some(command) => self.on_command(command, link, &queues).await?,
                },
                message = link.from_service.recv() => match message {
                    None => return Err("the meeting service ended the session".into()),
                    Some(message) => self.on_service(message, link, &queues).await?,
                },
                Some(event) = link.peer_events.recv() => match event {
                    PeerEvent::Candidate(connection, candidate) => {
                        link.send(ClientMessage::Candidate { connection, candidate }).await?;
                    }
                    PeerEvent::Track(remote) => self.hear(remote).await,
                    PeerEvent::State(..) => {}
                },
                Some((leg, packet)) = packets.recv() => {
                    if let Some(room) = self.rooms.get(&leg) {
                        // Fails only until the publish connection is up.
                        let _ = room.track.write_rtp(packet).await;
                    }
                }
                Some((leg, packet)) = video_packets.recv() => {
                    if let Some(video) = self.rooms.get(&leg).and_then(|r| r.video.as_ref()) {
                        let _ = video.track.write_rtp(packet).await;
                    }
                }
            }
        }
    }

    async fn on_command(
        &mut self,
        command: HubCommand,
        link: &Link,
        queues: &Queues,
    ) -> Result<(), String> {
        match command {
            HubCommand::Add(leg, join, video) => {
                let pending = Pending {
                    muted: false,
                    video,
                    name: join.display_name.clone(),
                    layout: join.layout,
                };
                self.pending.insert(leg, pending);
                link.send(ClientMessage::AddParticipant {
                    reference: leg.0.to_string(),
                    password: join.password,
                    name: join.display_name,
                })
                .await?;
            }
            HubCommand::Remove(leg) => {
                self.pending.remove(&leg);
                if let Some(room) = self.rooms.remove(&leg) {
                    let id = room.participant;
                    self.named(&id, None);
                    link.send(ClientMessage::RemoveParticipant { id }).await?;
                    let _ = link.publish.remove_track(&room.sender).await;
                    if let Some(video) = &room.video {
                        let _ = link.publish.remove_track(&video.sender).await;
                    }
                    self.offer(link).await?;
                }
            }
            HubCommand::Camera(leg, codec) => {
                if let Some(pending) = self.pending.get_mut(&leg) {
                    pending.video = codec;
                }
                let Some(room) = self.rooms.get(&leg) else {
                    return Ok(());
                };
                if room.video.as_ref().map(|v| v.codec) == codec {
                    return Ok(());
                }
                let participant = room.participant.clone();
                let old = self.rooms.get_mut(&leg).and_then(|r| r.video.take());
                if let Some(old) = old {
                    let _ = link.publish.remove_track(&old.sender).await;
                }
                let video = match codec {
                    Some(codec) => Some(self.publish_camera(&participant, codec, link).await?),
                    None => None,
                };
                let publish = video.as_ref().map(|v| v.publish_to(queues));
                let room = self.rooms.get_mut(&leg).expect("just seen");
                room.video = video;
                if room.bridged {
                    let _ = self
                        .cx
                        .workers
                        .leg(leg, Command::PublishVideo(leg, publish));
                }
                self.offer(link).await?;
            }
            HubCommand::Mute(leg, muted) => {
                if let Some(room) = self.rooms.get(&leg) {
                    link.send(ClientMessage::Mute {
                        audio: muted,
                        video: false,
                        participant: Some(room.participant.clone()),
                    })
                    .await?;
                } else if let Some(pending) = self.pending.get_mut(&leg) {
                    pending.muted = muted;
                }
            }
        }
        Ok(())
    }

    async fn on_service(
        &mut self,
        message: ServerMessage,
        link: &Link,
        queues: &Queues,
    ) -> Result<(), String> {
        match message {
            ServerMessage::ParticipantAdded { reference, id } => {
                let pending = reference_leg(&reference)
                    .and_then(|leg| Some((leg, self.pending.remove(&leg)?)));
                let Some((
                    leg,
                    Pending {
                        muted,
                        video,
                        name,
                        layout,
                    },
                )) = pending
                else {
                    // The leg went while it was being added.
                    return link.send(ClientMessage::RemoveParticipant { id }).await;
                };
                info!(leg = leg.0, meeting = %self.meeting, participant = %id, "room joined the meeting");
                self.named(&id, Some(member(name, muted)));
                let ssrc = rand::random::<u32>();
                let track = Arc::new(room_track(&id, ssrc));
                let sender = link.publish.add_track(track.clone()).await.map_err(err)?;
                let video = match video {
                    Some(codec) => Some(self.publish_camera(&id, codec, link).await?),
                    None => None,
                };
                if muted {
                    let participant = Some(id.clone());
                    let mute = ClientMessage::Mute {
                        audio: true,
                        video: false,
                        participant,
                    };
                    link.send(mute).await?;
                }
                let room = Room {
                    participant: id,
                    track,
                    sender,
                    ssrc,
                    video,
                    layout,
                    bridged: false,
                };
                self.rooms.insert(leg, room);
                self.offer(link).await?;
                self.bridge(queues);
            }
            ServerMessage::ParticipantRefused {
                reference, message, ..
            } => {
                let leg = reference_leg(&reference);
                if let Some(leg) = leg.filter(|leg| self.pending.remove(leg).is_some()) {
                    warn!(leg = leg.0, meeting = %self.meeting, "not admitted: {message}");
                    let lost = MediaEvent::MeetingLost {
                        leg,
                        reason: message,
                    };
                    let _ = self.cx.events.send(lost);
                }
            }
            ServerMessage::KeyframeWanted { participant } => {
                let room = self
                    .rooms
                    .iter()
                    .find(|(_, r)| r.participant == participant);
                if let Some((&leg, _)) = room.filter(|(_, r)| r.video.is_some()) {
                    let _ = self
                        .cx
                        .workers
                        .leg(leg, Command::PublishedKeyframeWanted(leg));
                }
            }
            ServerMessage::PublishAnswer { sdp } => {
                accept_answer(&*link.publish, sdp).await.map_err(err)?;
                self.offering = false;
                if std::mem::take(&mut self.reoffer) {
                    self.offer(link).await?;
                }
            }
            ServerMessage::Subscribe { sdp } => {
                let sdp = answer(&*link.subscribe, sdp).await.map_err(err)?;
                link.send(ClientMessage::SubscribeAnswer { sdp }).await?;
            }
            ServerMessage::Candidate {
                connection,
                candidate,
            } => {
                let pc = match connection {
                    Connection::Publish => &link.publish,
                    Connection::Subscribe => &link.subscribe,
                };
                pc.add_ice_candidate(candidate).await.map_err(err)?;
            }
            ServerMessage::Error { code, message } => {
                warn!(%code, meeting = %self.meeting, "meeting service: {message}");
            }
            ServerMessage::ParticipantJoined { participant }
            | ServerMessage::ParticipantUpdated { participant } => self.named(
                &participant.id,
                Some(member(participant.name, participant.audio_muted)),
            ),
            ServerMessage::ParticipantLeft { id } => self.named(&id, None),
            _ => {}
        }
        Ok(())
    }

    /// Tells the meeting's video worker a participant's name and whether
    /// it is muted (None: it left), for its tile's label or name card.
    fn named(&self, participant: &str, member: Option<Member>) {
        let named = VideoCommand::Named {
            meeting: self.meeting.as_str().into(),
            participant: participant.to_owned(),
            member,
        };
        self.cx.video.of_meeting(&self.meeting).send(named);
    }

    /// Offers the publish connection's current tracks, unless an offer is
    /// out (then once its answer is in).
    async fn offer(&mut self, link: &Link) -> Result<(), String> {
        if self.offering {
            self.reoffer = true;
            return Ok(());
        }
        let sdp = offer(&*link.publish).await.map_err(err)?;
        self.audio_level_id = meeting::rtc::extmap_id(&sdp, meeting::rtc::AUDIO_LEVEL_URI);
        self.offering = true;
        link.send(ClientMessage::Publish { sdp }).await
    }

    /// Tells the media worker about rooms whose track is offered.
    fn bridge(&mut self, queues: &Queues) {
        for (&leg, room) in self.rooms.iter_mut().filter(|(_, r)| !r.bridged) {
            room.bridged = true;
            let command = Command::Bridge {
                leg,
                meeting: self.meeting.clone(),
                participant: room.participant.clone(),
                publish: PublishTo {
                    ssrc: room.ssrc,
                    audio_level_id: self.audio_level_id,
                    packets: queues.audio.clone(),
                },
                video: self.cx.video.of_meeting(&self.meeting),
                layout: room.layout,
            };
            let _ = self.cx.workers.leg(leg, command);
            if let Some(video) = &room.video {
                let publish = Some(video.publish_to(queues));
                let _ = self
                    .cx
                    .workers
                    .leg(leg, Command::PublishVideo(leg, publish));
            }
        }
    }

    /// Publishes a room's camera as a video track of its participant, and
    /// passes the meeting's keyframe requests for it to the room's worker.
    async fn publish_camera(
        &self,
        participant: &str,
        codec: VideoCodec,
        link: &Link,
    ) -> Result<RoomVideo, String> {
        let ssrc = rand::random::<u32>();
        let (track, payload_type) = camera_track(participant, ssrc, codec);
        let track = Arc::new(track);
        let sender = link.publish.add_track(track.clone()).await.map_err(err)?;
        Ok(RoomVideo {
            codec,
            track,
            sender,
            ssrc,
            payload_type,
        })
    }

    /// Feeds a received participant's audio to the meeting's worker, which
    /// decodes it once for every local room.
    async fn hear(&self, remote: Arc<dyn TrackRemote>) {
        if remote.kind().await != RtpCodecKind::Audio {
            return self.see(remote).await;
        }
        let participant = remote.stream_id().await.to_string();
        let id = NEXT_STREAM.fetch_add(1, Ordering::Relaxed);
        info!(meeting = %self.meeting, %participant, stream = id, "receiving a participant's audio");
        let (stream, inbound) = MeetingStream::new(id, participant);
        let workers = self.cx.workers.clone();
        let meeting = self.meeting.clone();
        workers.meeting(
            &meeting,
            Command::AddStream(meeting.clone(), Box::new(stream)),
        );
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
            workers.meeting(&meeting, Command::RemoveStream(meeting.clone(), id));
        });
    }

    /// Feeds a received participant's camera to the meeting's video
    /// worker (a source from its first packet, whose payload type says
    /// the codec), and passes the worker's keyframe requests back as PLI.
    async fn see(&self, remote: Arc<dyn TrackRemote>) {
        let participant = remote.stream_id().await.to_string();
        let id = NEXT_STREAM.fetch_add(1, Ordering::Relaxed);
        info!(meeting = %self.meeting, %participant, source = id, "receiving a participant's camera");
        let queue = self.cx.video.of_meeting(&self.meeting);
        let meeting: Arc<str> = self.meeting.as_str().into();
        let (ask, mut asks) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut ssrc = None;
            loop {
                tokio::select! {
                    event = remote.poll() => match event {
                        Some(TrackRemoteEvent::OnRtpPacket(packet)) => {
                            let h = &packet.header;
                            if ssrc.is_none() {
                                let Some(codec) = codec_of(h.payload_type) else { continue };
                                queue.send(VideoCommand::AddSource {
                                    id,
                                    meeting: meeting.clone(),
                                    participant: participant.clone(),
                                    codec,
                                    ask: KeyframeAsk::Hub(ask.clone()),
                                    stats: Default::default(),
                                });
                            }
                            ssrc = Some(h.ssrc);
                            let (seq, ts, marker) = (h.sequence_number, h.timestamp, h.marker);
                            queue.send(VideoCommand::Packet(id, seq, ts, marker, packet.payload));
                        }
                        Some(TrackRemoteEvent::OnEnded) | None => break,
                        Some(_) => {}
                    },
                    Some(()) = asks.recv() => {
                        let pli = PictureLossIndication {
                            sender_ssrc: 0,
                            media_ssrc: ssrc.unwrap_or(0),
                        };
                        let _ = remote.write_rtcp(vec![Box::new(pli)]).await;
                    }
                }
            }
            queue.send(VideoCommand::RemoveSource(id));
        });
    }
}

/// The video codec the meeting carries on `payload_type`.
fn codec_of(payload_type: u8) -> Option<VideoCodec> {
    [VideoCodec::H264, VideoCodec::Vp8]
        .into_iter()
        .find(|c| meeting::rtc::payload_type(c.mime()) == Some(payload_type))
}

/// The leg an `add_participant` answer is about (its reference is the
/// leg's number).
fn reference_leg(reference: &str) -> Option<LegId> {
    reference.parse().ok().map(LegId)
}

/// The hub's queues from the media workers: rooms' audio (Opus) and
/// camera packets, for their published tracks.
struct Queues {
    audio: mpsc::Sender<(LegId, Packet)>,
    video: mpsc::Sender<(LegId, Packet)>,
}

/// A room's camera track, sent in the room's codec as the meeting carries
/// it (its payload type), in the stream named by its participant id. The
/// track names no codec, so its section offers every video codec: rtc
/// 0.21 fixes a connection's video codecs by its first video section, and
/// rooms' cameras come in H.264 and in VP8.
fn camera_track(participant: &str, ssrc: u32, codec: VideoCodec) -> (TrackLocalStaticRTP, u8) {
    let payload_type =
        meeting::rtc::payload_type(codec.mime()).expect("the meeting carries H.264 and VP8");
    let track = TrackLocalStaticRTP::new(MediaStreamTrack::new(
        participant.to_owned(),
        format!("{participant}-video"),
        "room camera".to_owned(),
        RtpCodecKind::Video,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                ..Default::default()
            },
            ..Default::default()
        }],
    ));
    (track, payload_type)
}

/// A room's published track: Opus, in the stream named by its participant id.
fn room_track(participant: &str, ssrc: u32) -> TrackLocalStaticRTP {
    let opus = meeting::rtc::codecs()
        .into_iter()
        .find(|(_, c)| c.payload_type == OPUS_PAYLOAD_TYPE)
        .map(|(_, c)| c.rtp_codec)
        .expect("the meeting carries Opus");
    TrackLocalStaticRTP::new(MediaStreamTrack::new(
        participant.to_owned(),
        format!("{participant}-audio"),
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

fn member(name: String, muted: bool) -> Member {
    Member { name, muted }
}
