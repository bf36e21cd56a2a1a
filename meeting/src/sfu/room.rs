//! A meeting in progress: who is in it, which sessions carry them, and
//! which tracks they publish. A browser's session carries one participant;
//! a gateway's (a media node's rooms of this meeting) carries any number.
//! Sessions learn of changes through [`Notice`]s, once per session however
//! many of its participants are concerned, and never about their own
//! participants' tracks; each session's own task acts on them (the room
//! never touches a session's peer connections).

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use tokio::sync::mpsc;

use super::forward::Published;
use crate::protocol::{ParticipantInfo, ServerMessage};
use crate::speaker::SpeakerDetector;
use crate::Meeting;

/// Identifies a session in the process.
pub(crate) type SessionId = u64;

/// What the room tells a session's task.
pub(crate) enum Notice {
    /// Pass this on to the client.
    Message(ServerMessage),
    /// A participant of another session published a track: subscribe to it.
    TrackAdded(Arc<Published>),
    /// A track this session subscribed to is gone.
    TrackRemoved(Arc<Published>),
}

struct Member {
    info: ParticipantInfo,
    session: SessionId,
}

struct Attached {
    id: SessionId,
    notices: mpsc::UnboundedSender<Notice>,
    /// Whether the session takes video tracks (gateways may not).
    video: bool,
}

impl Attached {
    fn takes(&self, track: &Published) -> bool {
        track.session != self.id && (self.video || track.kind != RtpCodecKind::Video)
    }
}

#[derive(Default)]
struct State {
    members: Vec<Member>,
    sessions: Vec<Attached>,
    tracks: Vec<Arc<Published>>,
}

pub(crate) struct Room {
    pub meeting: Meeting,
    state: Mutex<State>,
}

impl Room {
    pub fn new(meeting: Meeting) -> Room {
        Room {
            meeting,
            state: Mutex::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("room state")
    }

    /// Registers a session for notices; returns the tracks it subscribes
    /// to now (later ones come as [`Notice::TrackAdded`]).
    pub fn attach(
        &self,
        id: SessionId,
        video: bool,
        notices: mpsc::UnboundedSender<Notice>,
    ) -> Vec<Arc<Published>> {
        let mut state = self.state();
        let attached = Attached { id, notices, video };
        let tracks = state
            .tracks
            .iter()
            .filter(|t| attached.takes(t))
            .cloned()
            .collect();
        state.sessions.push(attached);
        tracks
    }

    /// Adds `info`, admitted already (it holds a seat), to `session`'s
    /// participants and tells the other sessions; returns who else is there.
    pub fn join(&self, info: ParticipantInfo, session: SessionId) -> Vec<ParticipantInfo> {
        let mut state = self.state();
        broadcast(
            &state,
            session,
            ServerMessage::ParticipantJoined {
                participant: info.clone(),
            },
        );
        let others = state.members.iter().map(|m| m.info.clone()).collect();
        state.members.push(Member { info, session });
        others
    }

    /// A participant's new track: every session that takes it subscribes.
    pub fn publish(&self, track: Arc<Published>) {
        let mut state = self.state();
        for s in state.sessions.iter().filter(|s| s.takes(&track)) {
            let _ = s.notices.send(Notice::TrackAdded(track.clone()));
        }
        state.tracks.push(track);
    }

    /// A participant's mute state changed.
    pub fn update(&self, info: ParticipantInfo) {
        let mut state = self.state();
        let Some(i) = state.members.iter().position(|m| m.info.id == info.id) else {
            return;
        };
        let session = state.members[i].session;
        broadcast(
            &state,
            session,
            ServerMessage::ParticipantUpdated {
                participant: info.clone(),
            },
        );
        state.members[i].info = info;
    }

    /// Tells every session.
    pub fn announce(&self, message: ServerMessage) {
        broadcast(&self.state(), SessionId::MAX, message);
    }

    /// Nobody is in the meeting and no session is attached.
    pub fn is_empty(&self) -> bool {
        let state = self.state();
        state.members.is_empty() && state.sessions.is_empty()
    }

    /// Who is in the meeting.
    pub fn members(&self) -> Vec<ParticipantInfo> {
        self.state()
            .members
            .iter()
            .map(|m| m.info.clone())
            .collect()
    }

    /// Removes participant `id` and its tracks, and tells the others.
    pub fn leave(&self, id: &str) {
        leave(&mut self.state(), id);
    }

    /// Removes a session and its participants; returns every track, for
    /// the session to unsubscribe from.
    pub fn detach(&self, session: SessionId) -> Vec<Arc<Published>> {
        let mut state = self.state();
        let ids: Vec<String> = state
            .members
            .iter()
            .filter(|m| m.session == session)
            .map(|m| m.info.id.clone())
            .collect();
        for id in &ids {
            leave(&mut state, id);
        }
        state.sessions.retain(|s| s.id != session);
        state.tracks.clone()
    }
}

fn leave(state: &mut State, id: &str) {
    let Some(i) = state.members.iter().position(|m| m.info.id == id) else {
        return;
    };
    let session = state.members.remove(i).session;
    let (gone, kept): (Vec<_>, Vec<_>) = state.tracks.drain(..).partition(|t| t.participant == id);
    state.tracks = kept;
    for track in &gone {
        for s in state.sessions.iter().filter(|s| s.takes(track)) {
            let _ = s.notices.send(Notice::TrackRemoved(track.clone()));
        }
        broadcast(
            state,
            session,
            ServerMessage::TrackUnpublished {
                participant: id.to_owned(),
                kind: track.kind_name().to_owned(),
            },
        );
    }
    broadcast(
        state,
        session,
        ServerMessage::ParticipantLeft { id: id.to_owned() },
    );
}

/// Every 20 ms, picks the meeting's active speaker from its audio tracks'
/// levels and tells everyone when it changes; ends with the room.
pub(crate) async fn watch_speakers(room: Weak<Room>) {
    let mut detector = SpeakerDetector::<u64>::default();
    let mut levels = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    loop {
        tick.tick().await;
        let Some(room) = room.upgrade() else { return };
        let speaker = {
            let state = room.state();
            levels.clear();
            let audio = state
                .tracks
                .iter()
                .filter(|t| t.kind == RtpCodecKind::Audio);
            levels.extend(audio.map(|t| (t.number, t.take_level())));
            detector.update(&levels).and_then(|number| {
                let track = state.tracks.iter().find(|t| t.number == number)?;
                Some(track.participant.clone())
            })
        };
        if let Some(participant) = speaker {
            room.announce(ServerMessage::ActiveSpeaker { participant });
        }
    }
}

/// Tells every session but `except`.
fn broadcast(state: &State, except: SessionId, message: ServerMessage) {
    for s in state.sessions.iter().filter(|s| s.id != except) {
        let _ = s.notices.send(Notice::Message(message.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ParticipantKind;

    fn info(id: &str) -> ParticipantInfo {
        ParticipantInfo {
            id: id.into(),
            name: id.to_uppercase(),
            kind: ParticipantKind::Browser,
            audio_muted: false,
            video_muted: false,
        }
    }

    fn messages(rx: &mut mpsc::UnboundedReceiver<Notice>) -> Vec<ServerMessage> {
        std::iter::from_fn(|| rx.try_recv().ok())
            .filter_map(|n| match n {
                Notice::Message(m) => Some(m),
                _ => None,
            })
            .collect()
    }

    fn weekly() -> Room {
        Room::new(Meeting {
            number: "1".into(),
            password: Some("4321".into()),
            host_pin: None,
            name: "Weekly".into(),
            locked: false,
            layout: Default::default(),
            encryption: None,
        })
    }

    #[test]
    fn members_are_told_of_each_other_and_of_leaving() {
        let room = weekly();
        let (a_tx, mut a) = mpsc::unbounded_channel();
        let (b_tx, mut b) = mpsc::unbounded_channel();
        room.attach(1, true, a_tx);
        assert!(room.join(info("a"), 1).is_empty());
        room.attach(2, true, b_tx);
        let others = room.join(info("b"), 2);
        assert_eq!(others, vec![info("a")]);
        assert_eq!(
            messages(&mut a),
            vec![ServerMessage::ParticipantJoined {
                participant: info("b")
            }]
        );
        let mut muted = info("b");
        muted.audio_muted = true;
        room.update(muted.clone());
        assert_eq!(
            messages(&mut a),
            vec![ServerMessage::ParticipantUpdated { participant: muted }]
        );
        assert!(
            messages(&mut b).is_empty(),
            "nobody is told about themselves"
        );
        room.detach(2);
        assert_eq!(
            messages(&mut a),
            vec![ServerMessage::ParticipantLeft { id: "b".into() }]
        );
        assert!(!room.is_empty());
        room.detach(1);
        assert!(room.is_empty());
    }

    #[test]
    fn a_gateway_session_carries_several_participants_and_hears_of_others_once() {
        let room = weekly();
        let (g_tx, mut g) = mpsc::unbounded_channel();
        let (b_tx, mut b) = mpsc::unbounded_channel();
        room.attach(1, false, g_tx);
        room.join(info("r1"), 1);
        room.join(info("r2"), 1);
        assert!(messages(&mut g).is_empty(), "its own rooms are not news");
        room.attach(2, true, b_tx);
        let others = room.join(info("b"), 2);
        assert_eq!(
            others,
            vec![info("r1"), info("r2")],
            "each room is its own participant"
        );
        assert_eq!(
            messages(&mut g),
            vec![ServerMessage::ParticipantJoined {
                participant: info("b")
            }],
            "told once, not once per room"
        );
        room.leave("r1");
        assert_eq!(
            messages(&mut b),
            vec![ServerMessage::ParticipantLeft { id: "r1".into() }]
        );
        assert_eq!(room.members().len(), 2);
        room.detach(1);
        assert_eq!(
            messages(&mut b),
            vec![ServerMessage::ParticipantLeft { id: "r2".into() }],
            "a gateway going takes its rooms"
        );
        room.detach(2);
        assert!(room.is_empty());
    }
}
