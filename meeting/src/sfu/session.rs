//! One session's task: a browser's (`join`: one participant) or a media
//! gateway's (`gateway`: the rooms of one meeting on one media node, added
//! and removed as they come and go). Either way the session has two peer
//! connections — publish (the client offers, we answer; its tracks become
//! [`Published`] tracks of the room, attributed to the participant whose id
//! is the track's stream id) and subscribe (we offer every track of the
//! other sessions' participants and renegotiate as they come and go, one
//! offer at a time) — until it leaves or its socket closes.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;
use tracing::{debug, info, warn};
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{PeerConnection, RTCPeerConnectionState};
use webrtc::rtp_transceiver::RtpSender;

use super::forward::Published;
use super::room::{Notice, Room, SessionId};
use super::Sfu;
use crate::protocol::{ClientMessage, Connection, ParticipantInfo, ParticipantKind, ServerMessage};
use crate::rtc::{self, PeerEvent};
use crate::{Refusal, SeatId, SeatRequest};

type Out = mpsc::Sender<ServerMessage>;

/// What a session was opened as: a participant's (a browser's WebSocket;
/// `join` only) or a media node's (in-process; `gateway` only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Opener {
    Participant,
    Gateway,
}

/// Runs a session from its first message to its end.
pub(crate) async fn run(
    sfu: Sfu,
    opener: Opener,
    mut incoming: mpsc::Receiver<ClientMessage>,
    out: Out,
) {
    let id = sfu.next_session_id();
    let (notices_tx, notices) = mpsc::unbounded_channel();
    let to_self = (opener == Opener::Gateway).then(|| notices_tx.clone());
    let (room, members, seat, tracks) = match (opener, incoming.recv().await) {
        (
            Opener::Participant,
            Some(ClientMessage::Join {
                meeting,
                password,
                name,
                kind,
            }),
        ) => {
            let info = ParticipantInfo {
                id: sfu.next_participant_id(),
                name: display_name(&name),
                kind,
                audio_muted: false,
                video_muted: false,
            };
            let request = SeatRequest {
                number: meeting,
                password,
                holder: info.name.clone(),
            };
            let seat = match sfu.seats().take(request).await {
                Ok(Ok(seat)) => seat,
                Ok(Err(refusal)) => return refuse(&out, refusal).await,
                Err(e) => {
                    warn!("{e}");
                    let text = "The meeting directory is unavailable; try again later";
                    let _ = out.send(ServerMessage::error("unavailable", text)).await;
                    return;
                }
            };
            let room = sfu.room_of(seat.meeting);
            let tracks = room.attach(id, true, notices_tx);
            let others = room.join(info.clone(), id);
            info!(meeting = %room.meeting.number, participant = %info.id, name = %info.name, ?kind, "joined");
            let joined = ServerMessage::Joined {
                id: info.id.clone(),
                meeting_name: room.meeting.name.clone(),
                participants: others,
            };
            let _ = out.send(joined).await;
            (room, vec![info], Some(seat.id), tracks)
        }
        (Opener::Gateway, Some(ClientMessage::Gateway { meeting, video })) => {
            let room = match sfu.room(&meeting).await {
                Ok(room) => room,
                Err(refusal) => return refuse(&out, refusal).await,
            };
            let tracks = room.attach(id, video, notices_tx);
            info!(meeting = %meeting, session = id, "gateway session opened");
            let opened = ServerMessage::GatewayOpened {
                meeting_name: room.meeting.name.clone(),
                participants: room.members(),
            };
            let _ = out.send(opened).await;
            (room, Vec::new(), None, tracks)
        }
        _ => {
            let first = match opener {
                Opener::Participant => "the first message must be join",
                Opener::Gateway => "the first message must be gateway",
            };
            let _ = out.send(ServerMessage::error("protocol", first)).await;
            return;
        }
    };
    let gateway = opener == Opener::Gateway;
    let _open = sfu.stats().open(gateway);
    let mut session = match Session::new(&sfu, id, room.clone(), members, to_self, out).await {
        Ok(session) => session,
        Err((e, out)) => {
            warn!(session = id, "peer connections failed: {e}");
            let text = "Media is unavailable; try again later";
            let _ = out
                .send(ServerMessage::error("media_unavailable", text))
                .await;
            end(&sfu, &room, id, seat).await;
            return;
        }
    };
    for track in tracks {
        session.subscribe(track).await;
    }
    session.run(incoming, notices).await;
    // Out of the room first (its seat is free at once), then the slower
    // teardown of the peer connections.
    end(&sfu, &room, id, seat).await;
    session.close().await;
    info!(meeting = %room.meeting.number, session = id, "left");
}

/// The error code and text of a refusal.
fn refusal_code(refusal: Refusal) -> &'static str {
    match refusal {
        Refusal::UnknownMeeting => "unknown_meeting",
        Refusal::PasswordRequired => "password_required",
        Refusal::WrongPassword => "wrong_password",
        Refusal::Locked => "locked",
        Refusal::Full => "full",
    }
}

async fn refuse(out: &Out, refusal: Refusal) {
    let message = ServerMessage::error(refusal_code(refusal), refusal.text());
    let _ = out.send(message).await;
}

/// Takes the session out of its room and gives back a browser's seat.
async fn end(sfu: &Sfu, room: &Arc<Room>, id: SessionId, seat: Option<SeatId>) {
    for track in room.detach(id) {
        track.unsubscribe(id).await;
    }
    sfu.forget_if_empty(room);
    if let Some(seat) = seat {
        sfu.seats().release(seat).await;
    }
}

/// A name to show: trimmed, control characters removed, at most 64 characters.
fn display_name(name: &str) -> String {
    let clean: String = name.chars().filter(|c| !c.is_control()).take(64).collect();
    match clean.trim() {
        "" => "Guest".to_owned(),
        n => n.to_owned(),
    }
}

/// Another session's track on this session's subscribe connection.
struct Subscription {
    sender: Arc<dyn RtpSender>,
    track: Arc<Published>,
}

struct Session {
    id: SessionId,
    sfu: Sfu,
    room: Arc<Room>,
    /// The participants it carries: one for a browser, any for a gateway.
    members: Vec<ParticipantInfo>,
    gateway: bool,
    /// A gateway's own notices, for what its published tracks need of it.
    to_self: Option<mpsc::UnboundedSender<Notice>>,
    out: Out,
    publish: Arc<dyn PeerConnection>,
    subscribe: Arc<dyn PeerConnection>,
    events: mpsc::UnboundedReceiver<PeerEvent>,
    /// Subscribed tracks by (publisher, kind).
    senders: HashMap<(String, &'static str), Subscription>,
    /// An offer is out and its answer not yet in.
    awaiting_answer: bool,
    /// Tracks changed while an offer was out: offer again after the answer.
    renegotiate: bool,
}

impl Session {
    async fn new(
        sfu: &Sfu,
        id: SessionId,
        room: Arc<Room>,
        members: Vec<ParticipantInfo>,
        to_self: Option<mpsc::UnboundedSender<Notice>>,
        out: Out,
    ) -> Result<Session, (webrtc::error::Error, Out)> {
        let gateway = to_self.is_some();
        let (events_tx, events) = mpsc::unbounded_channel();
        let ips = sfu.rtc_ips();
        let publish = match rtc::peer_connection(ips, Connection::Publish, events_tx.clone()).await
        {
            Ok(publish) => publish,
            Err(e) => return Err((e, out)),
        };
        let subscribe = match rtc::peer_connection(ips, Connection::Subscribe, events_tx).await {
            Ok(subscribe) => subscribe,
            Err(e) => {
                // An open connection would keep its driver task and socket.
                let _ = publish.close().await;
                return Err((e, out));
            }
        };
        Ok(Session {
            id,
            sfu: sfu.clone(),
            room,
            members,
            gateway,
            to_self,
            out,
            publish,
            subscribe,
            events,
            senders: HashMap::new(),
            awaiting_answer: false,
            renegotiate: false,
        })
    }

    async fn run(
        &mut self,
        mut incoming: mpsc::Receiver<ClientMessage>,
        mut notices: mpsc::UnboundedReceiver<Notice>,
    ) {
        loop {
            tokio::select! {
                message = incoming.recv() => match message {
                    None | Some(ClientMessage::Leave) => return,
                    Some(message) => if let Err(e) = self.on_client(message).await {
                        let _ = self.out.send(ServerMessage::error("protocol", e)).await;
                    },
                },
                Some(event) = self.events.recv() => if !self.on_peer(event).await {
                    return;
                },
                Some(notice) = notices.recv() => self.on_notice(notice).await,
            }
        }
    }

    async fn on_client(&mut self, message: ClientMessage) -> Result<(), String> {
        match message {
            ClientMessage::Publish { sdp } => {
                let sdp = rtc::answer(&*self.publish, sdp)
                    .await
                    .map_err(|e| e.to_string())?;
                self.send(ServerMessage::PublishAnswer { sdp }).await;
            }
            ClientMessage::SubscribeAnswer { sdp } => {
                rtc::accept_answer(&*self.subscribe, sdp)
                    .await
                    .map_err(|e| e.to_string())?;
                self.awaiting_answer = false;
                if std::mem::take(&mut self.renegotiate) {
                    self.offer().await;
                }
            }
            ClientMessage::Candidate {
                connection,
                candidate,
            } => {
                let pc = match connection {
                    Connection::Publish => &self.publish,
                    Connection::Subscribe => &self.subscribe,
                };
                pc.add_ice_candidate(candidate)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            ClientMessage::Mute {
                audio,
                video,
                participant,
            } => {
                let member = match &participant {
                    Some(id) => self.members.iter_mut().find(|m| &m.id == id),
                    None if !self.gateway => self.members.first_mut(),
                    None => None,
                };
                let member = member.ok_or("mute: no such participant in this session")?;
                member.audio_muted = audio;
                member.video_muted = video;
                self.room.update(member.clone());
            }
            ClientMessage::AddParticipant {
                reference, name, ..
            } if self.gateway => self.add(reference, name).await,
            ClientMessage::RemoveParticipant { id } if self.gateway => {
                if let Some(i) = self.members.iter().position(|m| m.id == id) {
                    self.members.remove(i);
                    self.room.leave(&id);
                    info!(meeting = %self.room.meeting.number, participant = %id, "left");
                }
            }
            ClientMessage::AddParticipant { .. } | ClientMessage::RemoveParticipant { .. } => {
                return Err("only a gateway session adds and removes participants".into())
            }
            ClientMessage::Join { .. } | ClientMessage::Gateway { .. } => {
                return Err("already joined".into())
            }
            ClientMessage::Leave => {}
        }
        Ok(())
    }

    /// One more of a gateway's participants: its node took its seat
    /// before answering the room, so it is not admitted again here.
    async fn add(&mut self, reference: String, name: String) {
        let info = ParticipantInfo {
            id: self.sfu.next_participant_id(),
            name: display_name(&name),
            kind: ParticipantKind::Room,
            audio_muted: false,
            video_muted: false,
        };
        self.room.join(info.clone(), self.id);
        info!(meeting = %self.room.meeting.number, participant = %info.id, name = %info.name, session = self.id, "joined through a gateway");
        let id = info.id.clone();
        self.members.push(info);
        self.send(ServerMessage::ParticipantAdded { reference, id })
            .await;
    }

    /// Returns false when the session's media is gone for good.
    async fn on_peer(&mut self, event: PeerEvent) -> bool {
        match event {
            PeerEvent::Candidate(connection, candidate) => {
                self.send(ServerMessage::Candidate {
                    connection,
                    candidate,
                })
                .await;
            }
            PeerEvent::Track(remote) => self.publish_track(remote).await,
            PeerEvent::State(connection, state) => {
                if connection == Connection::Subscribe && state == RTCPeerConnectionState::Connected
                {
                    for subscription in self.senders.values() {
                        subscription.track.restart_at_keyframe(self.id).await;
                    }
                }
                if state == RTCPeerConnectionState::Failed {
                    warn!(session = self.id, ?connection, "connection failed");
                    return false;
                }
            }
        }
        true
    }

    /// Makes one of the session's incoming tracks a track of the room: a
    /// browser's belongs to its one participant, a gateway's to the
    /// participant its stream id names.
    async fn publish_track(&self, remote: Arc<dyn TrackRemote>) {
        let participant = if self.gateway {
            let stream = remote.stream_id().await;
            match self.members.iter().find(|m| m.id == stream.as_str()) {
                Some(member) => member.id.clone(),
                // Its room left before the track's renegotiation was done.
                None => {
                    return debug!(session = self.id, %stream, "a track of no participant of this gateway")
                }
            }
        } else {
            match self.members.first() {
                Some(member) => member.id.clone(),
                None => return,
            }
        };
        let level_id = self
            .publish
            .remote_description()
            .await
            .and_then(|d| rtc::extmap_id(&d.sdp, rtc::AUDIO_LEVEL_URI));
        let to_publisher = self.to_self.clone();
        let Some(track) =
            Published::new(participant.clone(), self.id, remote, level_id, to_publisher).await
        else {
            return warn!(%participant, "a track in a codec we do not forward");
        };
        let track = Arc::new(track);
        tokio::spawn(track.clone().forward());
        self.room.announce(ServerMessage::TrackPublished {
            participant,
            kind: track.kind_name().to_owned(),
        });
        self.room.publish(track);
    }

    async fn on_notice(&mut self, notice: Notice) {
        match notice {
            Notice::Message(message) => self.send(message).await,
            Notice::TrackAdded(track) => self.subscribe(track).await,
            Notice::TrackRemoved(track) => {
                let key = (track.participant.clone(), track.kind_name());
                if let Some(subscription) = self.senders.remove(&key) {
                    let _ = self.subscribe.remove_track(&subscription.sender).await;
                    self.offer().await;
                }
            }
        }
    }

    /// Adds another session's track to the subscribe connection.
    async fn subscribe(&mut self, track: Arc<Published>) {
        let local = track.subscribe(self.id).await;
        match self.subscribe.add_track(local.clone()).await {
            Ok(sender) => {
                track.relay_feedback(local);
                self.senders.insert(
                    (track.participant.clone(), track.kind_name()),
                    Subscription {
                        sender,
                        track: track.clone(),
                    },
                );
                self.offer().await;
            }
            Err(e) => warn!(session = self.id, "cannot add a track: {e}"),
        }
    }

    /// Offers the subscribe connection's current tracks, unless an offer is out.
    async fn offer(&mut self) {
        if self.awaiting_answer {
            self.renegotiate = true;
            return;
        }
        let sdp = match rtc::offer(&*self.subscribe).await {
            Ok(sdp) => sdp,
            Err(e) => return warn!(session = self.id, "offer failed: {e}"),
        };
        self.awaiting_answer = true;
        self.send(ServerMessage::Subscribe { sdp }).await;
    }

    async fn send(&self, message: ServerMessage) {
        let _ = self.out.send(message).await;
    }

    async fn close(&self) {
        let _ = self.publish.close().await;
        let _ = self.subscribe.close().await;
    }
}
