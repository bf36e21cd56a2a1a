//! One participant's session task: admission on `join`, then its two peer
//! connections — publish (the client offers, we answer; its tracks become
//! [`Published`] tracks of the room) and subscribe (we offer every other
//! member's tracks and renegotiate as they come and go, one offer at a
//! time) — until it leaves or its socket closes.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;
use tracing::{info, warn};
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{PeerConnection, RTCPeerConnectionState, RTCSessionDescription};
use webrtc::rtp_transceiver::RtpSender;

use super::forward::Published;
use super::room::{Notice, Room};
use super::Sfu;
use crate::protocol::{ClientMessage, Connection, ParticipantInfo, ServerMessage};
use crate::rtc::{self, PeerEvent};

type Out = mpsc::Sender<ServerMessage>;

/// Runs a session from its first message to its end.
pub(crate) async fn run(sfu: Sfu, mut incoming: mpsc::Receiver<ClientMessage>, out: Out) {
    let Some(ClientMessage::Join {
        meeting,
        password,
        name,
        kind,
    }) = incoming.recv().await
    else {
        let _ = out
            .send(ServerMessage::error(
                "protocol",
                "the first message must be join",
            ))
            .await;
        return;
    };
    let room = match sfu.room(&meeting).await {
        Ok(room) => room,
        Err(refusal) => return refuse(&out, refusal).await,
    };
    let id = sfu.next_participant_id();
    let info = ParticipantInfo {
        id: id.clone(),
        name: display_name(&name),
        kind,
        audio_muted: false,
        video_muted: false,
    };
    let (notices_tx, notices) = mpsc::unbounded_channel();
    let welcome = match room.join(
        info.clone(),
        password.as_deref(),
        sfu.max_participants(),
        notices_tx,
    ) {
        Ok(welcome) => welcome,
        Err(refusal) => {
            sfu.forget_if_empty(&room);
            return refuse(&out, refusal).await;
        }
    };
    info!(meeting = %meeting, participant = %id, name = %info.name, ?kind, "joined");
    let _ = out
        .send(ServerMessage::Joined {
            id: id.clone(),
            meeting_name: room.meeting.name.clone(),
            participants: welcome.others,
        })
        .await;
    let out_for_error = out.clone();
    let mut session = match Participant::new(&sfu, room.clone(), info, out).await {
        Ok(session) => session,
        Err(e) => {
            warn!(participant = %id, "peer connections failed: {e}");
            let _ = out_for_error
                .send(ServerMessage::error(
                    "media_unavailable",
                    "Media is unavailable; try again later",
                ))
                .await;
            leave(&sfu, &room, &id).await;
            return;
        }
    };
    for track in welcome.tracks {
        session.subscribe(track).await;
    }
    session.run(incoming, notices).await;
    // Out of the room first (its seat is free at once), then the slower
    // teardown of the peer connections.
    leave(&sfu, &room, &id).await;
    session.close().await;
    info!(meeting = %meeting, participant = %id, "left");
}

async fn refuse(out: &Out, refusal: crate::Refusal) {
    let code = match refusal {
        crate::Refusal::UnknownMeeting => "unknown_meeting",
        crate::Refusal::PasswordRequired => "password_required",
        crate::Refusal::WrongPassword => "wrong_password",
        crate::Refusal::Locked => "locked",
        crate::Refusal::Full => "full",
    };
    let _ = out.send(ServerMessage::error(code, refusal.text())).await;
}

async fn leave(sfu: &Sfu, room: &Arc<Room>, id: &str) {
    let subscribed = room.leave(id);
    for track in subscribed {
        track.unsubscribe(id).await;
    }
    sfu.forget_if_empty(room);
}

/// A name to show: trimmed, control characters removed, at most 64 characters.
fn display_name(name: &str) -> String {
    let clean: String = name.chars().filter(|c| !c.is_control()).take(64).collect();
    match clean.trim() {
        "" => "Guest".to_owned(),
        n => n.to_owned(),
    }
}

/// Another member's track on this participant's subscribe connection.
struct Subscription {
    sender: Arc<dyn RtpSender>,
    track: Arc<Published>,
}

struct Participant {
    room: Arc<Room>,
    info: ParticipantInfo,
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

impl Participant {
    async fn new(
        sfu: &Sfu,
        room: Arc<Room>,
        info: ParticipantInfo,
        out: Out,
    ) -> Result<Participant, webrtc::error::Error> {
        let (events_tx, events) = mpsc::unbounded_channel();
        let ips = sfu.rtc_ips();
        let publish = rtc::peer_connection(ips, Connection::Publish, events_tx.clone()).await?;
        let subscribe = match rtc::peer_connection(ips, Connection::Subscribe, events_tx).await {
            Ok(subscribe) => subscribe,
            Err(e) => {
                // An open connection would keep its driver task and socket.
                let _ = publish.close().await;
                return Err(e);
            }
        };
        Ok(Participant {
            room,
            info,
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
                let offer = RTCSessionDescription::offer(sdp).map_err(|e| e.to_string())?;
                let pc = &self.publish;
                pc.set_remote_description(offer)
                    .await
                    .map_err(|e| e.to_string())?;
                let answer = pc.create_answer(None).await.map_err(|e| e.to_string())?;
                pc.set_local_description(answer.clone())
                    .await
                    .map_err(|e| e.to_string())?;
                self.send(ServerMessage::PublishAnswer { sdp: answer.sdp })
                    .await;
            }
            ClientMessage::SubscribeAnswer { sdp } => {
                let answer = RTCSessionDescription::answer(sdp).map_err(|e| e.to_string())?;
                self.subscribe
                    .set_remote_description(answer)
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
            ClientMessage::Mute { audio, video } => {
                self.info.audio_muted = audio;
                self.info.video_muted = video;
                self.room.update(self.info.clone());
            }
            ClientMessage::Join { .. } => return Err("already joined".into()),
            ClientMessage::Leave => {}
        }
        Ok(())
    }

    /// Returns false when the participant's media is gone for good.
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
                        subscription.track.restart_at_keyframe(&self.info.id).await;
                    }
                }
                if state == RTCPeerConnectionState::Failed {
                    warn!(participant = %self.info.id, ?connection, "connection failed");
                    return false;
                }
            }
        }
        true
    }

    /// Makes one of the participant's incoming tracks a track of the room.
    async fn publish_track(&self, remote: Arc<dyn TrackRemote>) {
        let level_id = self
            .publish
            .remote_description()
            .await
            .and_then(|d| rtc::extmap_id(&d.sdp, rtc::AUDIO_LEVEL_URI));
        let Some(track) = Published::new(self.info.id.clone(), remote, level_id).await else {
            return warn!(participant = %self.info.id, "a track in a codec we do not forward");
        };
        let track = Arc::new(track);
        tokio::spawn(track.clone().forward());
        self.room.announce(
            "",
            ServerMessage::TrackPublished {
                participant: self.info.id.clone(),
                kind: track.kind_name().to_owned(),
            },
        );
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

    /// Adds another member's track to the subscribe connection.
    async fn subscribe(&mut self, track: Arc<Published>) {
        let local = track.subscribe(&self.info.id).await;
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
            Err(e) => warn!(participant = %self.info.id, "cannot add a track: {e}"),
        }
    }

    /// Offers the subscribe connection's current tracks, unless an offer is out.
    async fn offer(&mut self) {
        if self.awaiting_answer {
            self.renegotiate = true;
            return;
        }
        let offer = match self.subscribe.create_offer(None).await {
            Ok(offer) => offer,
            Err(e) => return warn!(participant = %self.info.id, "offer failed: {e}"),
        };
        if let Err(e) = self.subscribe.set_local_description(offer.clone()).await {
            return warn!(participant = %self.info.id, "offer failed: {e}");
        }
        self.awaiting_answer = true;
        self.send(ServerMessage::Subscribe { sdp: offer.sdp }).await;
    }

    async fn send(&self, message: ServerMessage) {
        let _ = self.out.send(message).await;
    }

    async fn close(&self) {
        let _ = self.publish.close().await;
        let _ = self.subscribe.close().await;
    }
}
