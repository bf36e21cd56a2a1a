//! The meeting signaling protocol: JSON messages over a WebSocket (browsers)
//! or an in-process channel (room connectors), documented in
//! docs/meeting-protocol.md. Each message is an object with a `type`.

use serde::{Deserialize, Serialize};
use webrtc::peer_connection::RTCIceCandidateInit;

/// Which of a participant's two peer connections a message is about: the
/// one it publishes on (it offers) or the one it receives the others on
/// (the service offers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Connection {
    Publish,
    Subscribe,
}

/// What kind of participant this is, shown on its tile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParticipantKind {
    Browser,
    Room,
}

/// A participant as others see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticipantInfo {
    pub id: String,
    pub name: String,
    pub kind: ParticipantKind,
    pub audio_muted: bool,
    pub video_muted: bool,
}

/// Client → service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// First message: which meeting, its password, the name to show.
    Join {
        meeting: String,
        #[serde(default)]
        password: Option<String>,
        name: String,
        #[serde(default = "browser")]
        kind: ParticipantKind,
    },
    /// An SDP offer for the publish connection.
    Publish { sdp: String },
    /// The SDP answer to a `subscribe` offer.
    SubscribeAnswer { sdp: String },
    /// A trickled ICE candidate for one of the connections.
    Candidate {
        connection: Connection,
        candidate: RTCIceCandidateInit,
    },
    /// The participant muted or unmuted its microphone or camera. On a
    /// gateway session, `participant` names which of its participants.
    Mute {
        audio: bool,
        video: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        participant: Option<String>,
    },
    /// First message of a gateway session (a media node carrying several
    /// rooms of one meeting; in-process only for the embedded service):
    /// the meeting, and whether the gateway takes video.
    Gateway {
        meeting: String,
        #[serde(default)]
        video: bool,
    },
    /// Gateway sessions: admits one more participant (a room), with the
    /// password it gave and the name the others see; `reference` is the
    /// gateway's own name for it, echoed in the answer.
    AddParticipant {
        reference: String,
        #[serde(default)]
        password: Option<String>,
        name: String,
    },
    /// Gateway sessions: one of its participants leaves.
    RemoveParticipant { id: String },
    /// The participant leaves (closing the socket does the same).
    Leave,
}

fn browser() -> ParticipantKind {
    ParticipantKind::Browser
}

/// Service → client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// Admitted: your id, the meeting's name and who is already there.
    Joined {
        id: String,
        meeting_name: String,
        participants: Vec<ParticipantInfo>,
    },
    /// Not admitted (or a protocol error); the service closes the session.
    Error {
        code: String,
        message: String,
    },
    /// Gateway sessions: the meeting wants a keyframe of `participant`'s
    /// camera (said besides the RTCP PLI, which a gateway's WebRTC stack
    /// may not surface).
    KeyframeWanted {
        participant: String,
    },
    /// A gateway session is open: the meeting's name and who is there.
    GatewayOpened {
        meeting_name: String,
        participants: Vec<ParticipantInfo>,
    },
    /// Gateway sessions: `add_participant` admitted `reference` as `id`;
    /// its tracks are the publish connection's tracks in stream `id`.
    ParticipantAdded {
        reference: String,
        id: String,
    },
    /// Gateway sessions: `add_participant` was refused (the codes of
    /// `error`); the session stays open.
    ParticipantRefused {
        reference: String,
        code: String,
        message: String,
    },
    /// The answer to `publish`.
    PublishAnswer {
        sdp: String,
    },
    /// An offer for the subscribe connection (initial, or after tracks change).
    Subscribe {
        sdp: String,
    },
    /// A trickled ICE candidate of the service.
    Candidate {
        connection: Connection,
        candidate: RTCIceCandidateInit,
    },
    ParticipantJoined {
        participant: ParticipantInfo,
    },
    ParticipantLeft {
        id: String,
    },
    ParticipantUpdated {
        participant: ParticipantInfo,
    },
    /// A participant's track is now in the subscribe connection, in the
    /// media stream whose id is the participant's id.
    TrackPublished {
        participant: String,
        kind: String,
    },
    TrackUnpublished {
        participant: String,
        kind: String,
    },
    /// The loudest participant changed.
    ActiveSpeaker {
        participant: String,
    },
}

impl ServerMessage {
    pub fn error(code: &str, message: impl Into<String>) -> ServerMessage {
        ServerMessage::Error {
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_and_write_as_documented() {
        let join: ClientMessage = serde_json::from_str(
            r#"{"type":"join","meeting":"123456789","password":"4321","name":"Ann"}"#,
        )
        .unwrap();
        assert_eq!(
            join,
            ClientMessage::Join {
                meeting: "123456789".into(),
                password: Some("4321".into()),
                name: "Ann".into(),
                kind: ParticipantKind::Browser,
            }
        );
        let candidate: ClientMessage = serde_json::from_str(
            r#"{"type":"candidate","connection":"subscribe","candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0}}"#,
        )
        .unwrap();
        assert!(matches!(
            candidate,
            ClientMessage::Candidate {
                connection: Connection::Subscribe,
                ..
            }
        ));
        let left =
            serde_json::to_string(&ServerMessage::ParticipantLeft { id: "p2".into() }).unwrap();
        assert_eq!(left, r#"{"type":"participant_left","id":"p2"}"#);
        let mute: ClientMessage =
            serde_json::from_str(r#"{"type":"mute","audio":true,"video":false}"#).unwrap();
        assert_eq!(
            mute,
            ClientMessage::Mute {
                audio: true,
                video: false,
                participant: None
            },
            "browsers' mute is unchanged"
        );
    }

    #[test]
    fn gateway_messages_read_and_write_as_documented() {
        let open: ClientMessage =
            serde_json::from_str(r#"{"type":"gateway","meeting":"123456789"}"#).unwrap();
        assert_eq!(
            open,
            ClientMessage::Gateway {
                meeting: "123456789".into(),
                video: false
            }
        );
        let add = ClientMessage::AddParticipant {
            reference: "7".into(),
            password: Some("4321".into()),
            name: "Boardroom".into(),
        };
        assert_eq!(
            serde_json::to_string(&add).unwrap(),
            r#"{"type":"add_participant","reference":"7","password":"4321","name":"Boardroom"}"#
        );
        let refused: ServerMessage = serde_json::from_str(
            r#"{"type":"participant_refused","reference":"7","code":"full","message":"Meeting is full"}"#,
        )
        .unwrap();
        assert!(matches!(refused, ServerMessage::ParticipantRefused { .. }));
        let mute = ClientMessage::Mute {
            audio: true,
            video: false,
            participant: Some("p4".into()),
        };
        assert_eq!(
            serde_json::to_string(&mute).unwrap(),
            r#"{"type":"mute","audio":true,"video":false,"participant":"p4"}"#
        );
    }
}
