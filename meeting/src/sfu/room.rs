//! A meeting in progress: who is in it and which tracks they publish.
//! Members learn of changes through [`Notice`]s; each member's own task
//! acts on them (the room never touches a member's peer connections).

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use tokio::sync::mpsc;

use super::forward::Published;
use crate::admission::{admit, Admission, Refusal};
use crate::protocol::{ParticipantInfo, ServerMessage};
use crate::speaker::SpeakerDetector;
use crate::Meeting;

/// What the room tells a member's task.
pub(crate) enum Notice {
    /// Pass this on to the client.
    Message(ServerMessage),
    /// Another member published a track: subscribe to it.
    TrackAdded(Arc<Published>),
    /// A track this member subscribed to is gone.
    TrackRemoved(Arc<Published>),
}

struct Member {
    info: ParticipantInfo,
    notices: mpsc::UnboundedSender<Notice>,
}

#[derive(Default)]
struct State {
    members: Vec<Member>,
    tracks: Vec<Arc<Published>>,
}

pub(crate) struct Room {
    pub meeting: Meeting,
    state: Mutex<State>,
}

/// What a new member finds when it is admitted.
pub(crate) struct Welcome {
    pub others: Vec<ParticipantInfo>,
    pub tracks: Vec<Arc<Published>>,
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

    /// Admits `info` (password and capacity through the one admission
    /// decision) and tells the others; or says why not.
    pub fn join(
        &self,
        info: ParticipantInfo,
        password: Option<&str>,
        max_participants: usize,
        notices: mpsc::UnboundedSender<Notice>,
    ) -> Result<Welcome, Refusal> {
        let mut state = self.state();
        let decision = admit(
            Some(&self.meeting),
            password,
            state.members.len(),
            max_participants,
        );
        if let Admission::Refuse(why) = decision {
            return Err(why);
        }
        broadcast(
            &state,
            &info.id,
            ServerMessage::ParticipantJoined {
                participant: info.clone(),
            },
        );
        let welcome = Welcome {
            others: state.members.iter().map(|m| m.info.clone()).collect(),
            tracks: state.tracks.clone(),
        };
        state.members.push(Member { info, notices });
        Ok(welcome)
    }

    /// A member's new track: every other member subscribes.
    pub fn publish(&self, track: Arc<Published>) {
        let mut state = self.state();
        for m in state
            .members
            .iter()
            .filter(|m| m.info.id != track.participant)
        {
            let _ = m.notices.send(Notice::TrackAdded(track.clone()));
        }
        state.tracks.push(track);
    }

    /// A member's mute state changed.
    pub fn update(&self, info: ParticipantInfo) {
        let mut state = self.state();
        broadcast(
            &state,
            &info.id,
            ServerMessage::ParticipantUpdated {
                participant: info.clone(),
            },
        );
        if let Some(m) = state.members.iter_mut().find(|m| m.info.id == info.id) {
            m.info = info;
        }
    }

    /// Tells every member but `except`.
    pub fn announce(&self, except: &str, message: ServerMessage) {
        broadcast(&self.state(), except, message);
    }

    pub fn is_empty(&self) -> bool {
        self.state().members.is_empty()
    }

    /// Removes a member and its tracks; returns the tracks it was
    /// subscribed to (to unsubscribe).
    pub fn leave(&self, id: &str) -> Vec<Arc<Published>> {
        let mut state = self.state();
        state.members.retain(|m| m.info.id != id);
        let (gone, kept): (Vec<_>, Vec<_>) =
            state.tracks.drain(..).partition(|t| t.participant == id);
        state.tracks = kept;
        for track in &gone {
            for m in &state.members {
                let _ = m.notices.send(Notice::TrackRemoved(track.clone()));
            }
            broadcast(
                &state,
                id,
                ServerMessage::TrackUnpublished {
                    participant: id.to_owned(),
                    kind: track.kind_name().to_owned(),
                },
            );
        }
        broadcast(
            &state,
            id,
            ServerMessage::ParticipantLeft { id: id.to_owned() },
        );
        state.tracks.clone()
    }
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
            room.announce("", ServerMessage::ActiveSpeaker { participant });
        }
    }
}

fn broadcast(state: &State, except: &str, message: ServerMessage) {
    for m in state.members.iter().filter(|m| m.info.id != except) {
        let _ = m.notices.send(Notice::Message(message.clone()));
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

    #[test]
    fn members_are_admitted_told_of_each_other_and_of_leaving() {
        let room = Room::new(Meeting {
            number: "1".into(),
            password: Some("4321".into()),
            host_pin: None,
            name: "Weekly".into(),
            locked: false,
        });
        let (a_tx, mut a) = mpsc::unbounded_channel();
        let (b_tx, mut b) = mpsc::unbounded_channel();
        let welcome = room.join(info("a"), Some("4321"), 2, a_tx).ok().unwrap();
        assert!(welcome.others.is_empty());
        assert_eq!(
            room.join(info("x"), Some("1"), 2, mpsc::unbounded_channel().0)
                .err(),
            Some(Refusal::WrongPassword)
        );
        let welcome = room.join(info("b"), Some("4321"), 2, b_tx).ok().unwrap();
        assert_eq!(welcome.others, vec![info("a")]);
        assert_eq!(
            room.join(info("c"), Some("4321"), 2, mpsc::unbounded_channel().0)
                .err(),
            Some(Refusal::Full),
            "browsers and rooms count alike"
        );
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
        room.leave("b");
        assert_eq!(
            messages(&mut a),
            vec![ServerMessage::ParticipantLeft { id: "b".into() }]
        );
        assert!(!room.is_empty());
        room.leave("a");
        assert!(room.is_empty());
    }
}
