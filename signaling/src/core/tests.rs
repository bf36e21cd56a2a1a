//! Deterministic tests of the call core: a scripted room sends wire bytes,
//! the test plays the driver (directory answers, media legs) and time only
//! moves when the test says so.

use std::time::Duration;

/// What media answers to a leg's creation: audio on `rtp`, RTCP next to it.
/// A leg media bound with audio only.
pub(super) fn bound_audio(rtp: SocketAddr) -> Vec<BoundStream> {
    vec![BoundStream {
        kind: media_api::StreamKind::Audio,
        rtp,
        rtcp: SocketAddr::new(rtp.ip(), rtp.port() + 1),
        dtls_fingerprint: None,
    }]
}

use super::*;
use crate::controller::Action;
use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use media_api::{BoundStream, LegId};
use meeting::Seat;

use crate::sip::endpoint::random_token;
use crate::sip::{Flow, Transport};
use meeting::Meeting;

const ROOM: &str = "127.0.0.1:5070";
const OFFER: &str = "v=0\r\no=room 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";

/// Plays the meeting side's admission of `leg` (which gave `password`)
/// with `answer` as the meeting found: seat 7, or the refusal.
pub(super) fn seat(leg: LegId, password: Option<&str>, answer: Option<Meeting>) -> Input {
    let result = meeting::admit(answer, password).map(|meeting| Seat { id: 7, meeting });
    Input::Seat {
        leg,
        result: Ok(result),
    }
}

pub(super) fn meeting(number: &str, password: Option<&str>) -> Meeting {
    Meeting {
        number: number.into(),
        password: password.map(str::to_owned),
        host_pin: None,
        name: "Board".into(),
        locked: false,
        layout: Default::default(),
        encryption: None,
    }
}

/// One room talking to a core, with the clock under the test's control.
struct Room {
    core: Core,
    now: Instant,
    call_id: String,
    to_tag: String,
    cseq: u32,
    sent: Vec<Output>,
}

impl Room {
    fn new() -> Room {
        Room {
            core: Core::new(CoreConfig::default()),
            now: Instant::now(),
            call_id: format!("{}@room", random_token()),
            to_tag: String::new(),
            cseq: 1,
            sent: Vec::new(),
        }
    }

    fn flow() -> Flow {
        Flow {
            transport: Transport::Udp,
            remote: ROOM.parse().expect("literal"),
            local: "127.0.0.1:5060".parse().expect("literal"),
            conn: 0,
        }
    }

    fn send(&mut self, method: &str, user: &str, extra: &str, body: &str) {
        let to_tag = if self.to_tag.is_empty() || method == "INVITE" && self.cseq == 1 {
            String::new()
        } else {
            format!(";tag={}", self.to_tag)
        };
        let cseq = if method == "ACK" || method == "CANCEL" {
            self.cseq
        } else {
            self.cseq += 1;
            self.cseq - 1
        };
        let branch = if method == "CANCEL" || method == "INVITE" && cseq == 1 {
            "z9hG4bKinvite1".to_owned()
        } else {
            format!("z9hG4bK{}", random_token())
        };
        let ctype = if body.is_empty() {
            String::new()
        } else if method == "INFO" && body.starts_with('<') {
            "Content-Type: application/media_control+xml\r\n".to_owned()
        } else if method == "INFO" {
            "Content-Type: application/dtmf-relay\r\n".to_owned()
        } else {
            "Content-Type: application/sdp\r\n".to_owned()
        };
        let msg = format!(
            "{method} sip:{user}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {ROOM};branch={branch}\r\n\
             From: \"Room\" <sip:room@127.0.0.1>;tag=roomtag\r\nTo: <sip:{user}@127.0.0.1>{to_tag}\r\n\
             Call-ID: {}\r\nCSeq: {cseq} {method}\r\nContact: <sip:room@{ROOM}>\r\nMax-Forwards: 70\r\n\
             {extra}{ctype}Content-Length: {}\r\n\r\n{body}",
            self.call_id,
            body.len()
        );
        self.core.handle(
            Input::Sip {
                data: Bytes::from(msg),
                flow: Room::flow(),
            },
            self.now,
        );
        self.drain();
    }

    fn info(&mut self, digits: &str) {
        for d in digits.chars() {
            self.send("INFO", "x", "", &format!("Signal={d}\r\nDuration=160\r\n"));
        }
    }

    fn drain(&mut self) {
        while let Some(o) = self.core.poll_output() {
            if let Output::Transmit { data, .. } = &o {
                let text = String::from_utf8_lossy(data);
                if let Some(tag) = header(&text, "To").and_then(|t| t.split(";tag=").nth(1)) {
                    self.to_tag = tag.to_owned();
                }
            }
            self.sent.push(o);
        }
    }

    /// First lines of every SIP message sent since the last call.
    fn wire(&mut self) -> Vec<String> {
        self.messages()
            .iter()
            .map(|m| m.lines().next().unwrap_or_default().to_owned())
            .collect()
    }

    fn messages(&mut self) -> Vec<String> {
        self.take()
            .into_iter()
            .filter_map(|o| match o {
                Output::Transmit { data, .. } => Some(String::from_utf8_lossy(&data).into_owned()),
                _ => None,
            })
            .collect()
    }

    fn take(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.sent)
    }

    /// Answers the pending admission as the meeting side would, `answer`
    /// being the meeting it found.
    fn directory(&mut self, answer: Option<Meeting>) {
        let (leg, password) = self
            .take()
            .into_iter()
            .find_map(|o| match o {
                Output::Control(Action::TakeSeat { leg, request }) => Some((leg, request.password)),
                _ => None,
            })
            .expect("a seat was asked for");
        self.core
            .handle(seat(leg, password.as_deref(), answer), self.now);
        self.drain();
    }

    /// Plays the media side: every requested leg is created.
    fn create_legs(&mut self) {
        let legs: Vec<LegId> = self
            .sent
            .iter()
            .filter_map(|o| match o {
                Output::Control(Action::CreateLeg { leg, .. }) => Some(*leg),
                _ => None,
            })
            .collect();
        for leg in legs {
            self.core.handle(
                Input::LegCreated {
                    leg,
                    result: Ok(bound_audio("127.0.0.1:40000".parse().expect("literal"))),
                },
                self.now,
            );
        }
        self.drain();
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        self.core.on_timer(self.now);
        self.drain();
    }

    /// Dials `user`, answers the lookup with `answer`, and ACKs a 200.
    fn join(&mut self, user: &str, answer: Option<Meeting>) {
        self.send("INVITE", user, "", OFFER);
        self.directory(answer);
        self.create_legs();
        assert!(self.wire().iter().any(|l| l.starts_with("SIP/2.0 200")));
        self.send("ACK", user, "", "");
    }

    fn state(&self) -> Option<&'static str> {
        self.core.calls().first().map(|c| c.state)
    }
}

fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.lines().find_map(|l| {
        l.split_once(':')
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    })
}

#[test]
fn dial_string_with_password_joins_and_the_room_hangs_up() {
    let mut room = Room::new();
    room.join("123456789**4321", Some(meeting("123456789", Some("4321"))));
    assert_eq!(room.state(), Some("in-meeting"));
    assert_eq!(room.core.seats_held(), 1);
    room.send("BYE", "x", "", "");
    assert!(room
        .sent
        .contains(&Output::Control(Action::ReleaseSeat { seat: 7 })));
    assert_eq!(room.wire(), ["SIP/2.0 200 OK"]);
    assert!(room.core.calls().is_empty());
    assert_eq!(room.core.seats_held(), 0);
}

#[test]
fn a_rooms_picture_fast_update_asks_its_encoder_for_a_keyframe() {
    let mut room = Room::new();
    room.join("123456789**4321", Some(meeting("123456789", Some("4321"))));
    assert_eq!(room.state(), Some("in-meeting"));
    room.sent.clear();
    room.send("INFO", "x", "", in_dialog::PICTURE_FAST_UPDATE);
    assert!(room
        .sent
        .iter()
        .any(|o| matches!(o, Output::Control(Action::SendKeyframe { .. }))));
    assert_eq!(room.wire(), ["SIP/2.0 200 OK"]);
}

#[test]
fn wrong_password_before_answer_goes_to_the_ivr_and_digits_keyed_during_the_check_count() {
    let mut room = Room::new();
    room.join("123456789**1111", Some(meeting("123456789", Some("4321"))));
    assert_eq!(room.state(), Some("ivr"));
    // Second try, then the third keyed before the directory has answered the second.
    room.info("9#");
    room.info("4321#");
    room.directory(Some(meeting("123456789", Some("4321"))));
    room.directory(Some(meeting("123456789", Some("4321"))));
    assert_eq!(room.state(), Some("in-meeting"));
}

#[test]
fn three_wrong_passwords_end_the_answered_call_with_reason_403() {
    let mut room = Room::new();
    room.join("123456789**1111", Some(meeting("123456789", Some("4321"))));
    room.info("9#");
    room.directory(Some(meeting("123456789", Some("4321"))));
    room.info("8#");
    room.directory(Some(meeting("123456789", Some("4321"))));
    let bye = room
        .messages()
        .into_iter()
        .find(|m| m.starts_with("BYE "))
        .expect("BYE sent");
    assert!(header(&bye, "Reason").is_some_and(|r| r.contains("cause=403")));
    assert_eq!(room.core.stats().calls_refused, 1);
}

#[test]
fn unknown_meeting_with_the_ivr_off_is_refused_with_404_before_answer() {
    let mut room = Room::new();
    room.core = Core::new(CoreConfig {
        ivr_enabled: false,
        ..CoreConfig::default()
    });
    room.send("INVITE", "999", "", OFFER);
    room.directory(None);
    assert_eq!(room.wire(), ["SIP/2.0 404 Not Found"]);
}

#[test]
fn cancel_before_answer_gets_200_and_487() {
    let mut room = Room::new();
    room.send("INVITE", "123456789", "", OFFER);
    room.send("CANCEL", "123456789", "", "");
    assert_eq!(
        room.wire(),
        [
            "SIP/2.0 100 Trying",
            "SIP/2.0 200 OK",
            "SIP/2.0 487 Request Terminated"
        ]
    );
    assert!(room.core.calls().is_empty());
    assert_eq!(room.core.stats().calls_cancelled, 1);
    // The meeting side admits it after all: the seat goes straight back.
    let late = seat(LegId(1), None, Some(meeting("123456789", None)));
    room.core.handle(late, room.now);
    room.drain();
    assert_eq!(
        room.take(),
        [Output::Control(Action::ReleaseSeat { seat: 7 })]
    );
}

#[test]
fn re_invite_puts_the_call_on_hold_and_back() {
    let mut room = Room::new();
    room.join("123456789", Some(meeting("123456789", None)));
    room.take();
    room.send("INVITE", "x", "", &format!("{OFFER}a=sendonly\r\n"));
    let ok = room.messages().pop().expect("answer");
    assert!(ok.starts_with("SIP/2.0 200"));
    assert!(ok.contains("a=recvonly"), "{ok}");
    assert_eq!(room.core.calls()[0].direction, Some("recvonly"), "ours");
    room.send("ACK", "x", "", "");
    room.send("INVITE", "x", "", OFFER);
    assert!(room
        .messages()
        .pop()
        .expect("answer")
        .contains("a=sendrecv"));
    assert_eq!(room.core.calls()[0].direction, Some("sendrecv"));
}

#[test]
fn unanswered_2xx_is_retransmitted_then_the_call_ends() {
    let mut room = Room::new();
    room.send("INVITE", "123456789", "", OFFER);
    room.directory(Some(meeting("123456789", None)));
    room.create_legs();
    room.take();
    room.advance(Duration::from_millis(500));
    assert_eq!(
        room.wire(),
        ["SIP/2.0 200 OK"],
        "first retransmission at T1"
    );
    room.advance(Duration::from_secs(40));
    assert!(room.wire().iter().any(|l| l.starts_with("BYE ")));
}

impl Room {
    /// A call into meeting 123456789 whose room asked for a 90 s session timer, answered.
    fn with_session_timer() -> Room {
        let mut room = Room::new();
        room.send(
            "INVITE",
            "123456789",
            "Supported: timer\r\nSession-Expires: 90;refresher=uac\r\n",
            OFFER,
        );
        room.directory(Some(meeting("123456789", None)));
        room.create_legs();
        room
    }
}

#[test]
fn session_timer_without_refresh_ends_the_call() {
    let mut room = Room::with_session_timer();
    let ok = room.messages().pop().expect("200");
    assert_eq!(header(&ok, "Session-Expires"), Some("90;refresher=uac"));
    room.send("ACK", "123456789", "", "");
    room.advance(Duration::from_secs(59));
    assert!(room.wire().is_empty(), "still within the interval");
    room.advance(Duration::from_secs(2));
    let bye = room.messages().pop().expect("BYE");
    assert!(
        bye.starts_with("BYE ") && bye.contains("cause=408"),
        "{bye}"
    );
}

#[test]
fn short_session_interval_is_refused_with_422() {
    let mut room = Room::new();
    room.send("INVITE", "123456789", "Session-Expires: 30\r\n", OFFER);
    let resp = room.messages().pop().expect("reply");
    assert!(resp.starts_with("SIP/2.0 422"));
    assert_eq!(header(&resp, "Min-SE"), Some("90"));
}

#[test]
fn update_refreshes_the_session_and_re_invite_changes_the_codec() {
    let mut room = Room::with_session_timer();
    room.send("ACK", "123456789", "", "");
    assert_eq!(room.core.calls()[0].codec.as_deref(), Some("PCMU/8000"));
    room.advance(Duration::from_secs(50));
    room.send("UPDATE", "x", "Session-Expires: 90;refresher=uac\r\n", "");
    let ok = room.messages().pop().expect("200 to UPDATE");
    assert!(
        ok.starts_with("SIP/2.0 200") && !ok.contains("m=audio"),
        "{ok}"
    );
    room.advance(Duration::from_secs(50));
    assert!(room.wire().is_empty(), "the UPDATE restarted the interval");
    let pcma = OFFER.replace("RTP/AVP 0 101", "RTP/AVP 8 101");
    room.send("INVITE", "x", "", &pcma);
    assert!(room.messages().pop().expect("answer").contains("PCMA/8000"));
    assert_eq!(room.core.calls()[0].codec.as_deref(), Some("PCMA/8000"));
}

/// Every message the core transmitted, as text, and the other outputs.
fn outputs(core: &mut Core) -> (Vec<String>, Vec<Output>) {
    let (mut wire, mut other) = (Vec::new(), Vec::new());
    while let Some(o) = core.poll_output() {
        match o {
            Output::Transmit { data, .. } => wire.push(String::from_utf8_lossy(&data).into_owned()),
            o => other.push(o),
        }
    }
    (wire, other)
}

#[test]
fn a_call_out_invites_acks_joins_and_acks_a_retransmitted_2xx() {
    let mut core = Core::new(CoreConfig::default());
    let now = Instant::now();
    let target = DialTarget {
        flow: Room::flow(),
        uri: format!("sip:room@{ROOM}"),
        route: vec!["<sip:proxy.example.com;lr>".into()],
        display_name: "Board room".into(),
        max_call_rate_kbps: None,
        encryption: None,
    };
    let seat = Seat {
        id: 7,
        meeting: meeting("123456789", None),
    };
    let leg = core.dial(target, seat).unwrap();
    let (_, other) = outputs(&mut core);
    assert!(
        matches!(other[..], [Output::Control(Action::CreateLeg { .. })]),
        "{other:?}"
    );
    assert_eq!(core.calls()[0].state, "dialing");
    let media: SocketAddr = "127.0.0.1:20000".parse().unwrap();
    core.handle(
        Input::LegCreated {
            leg,
            result: Ok(bound_audio(media)),
        },
        now,
    );
    let (wire, _) = outputs(&mut core);
    let invite = &wire[0];
    assert!(
        invite.starts_with(&format!("INVITE sip:room@{ROOM} SIP/2.0")),
        "{invite}"
    );
    assert_eq!(header(invite, "Route"), Some("<sip:proxy.example.com;lr>"));
    assert!(
        invite.contains("m=audio 20000 RTP/AVP"),
        "our offer: {invite}"
    );
    let response = |code: &str, body: &str| {
        let mut r = format!("SIP/2.0 {code}\r\n");
        for name in ["Via", "From", "Call-ID", "CSeq"] {
            r += &format!("{name}: {}\r\n", header(invite, name).unwrap());
        }
        r += &format!(
            "To: {};tag=roomtag\r\nContact: <sip:room@{ROOM}>\r\n{}Content-Length: {}\r\n\r\n{body}",
            header(invite, "To").unwrap(),
            if body.is_empty() { "" } else { "Content-Type: application/sdp\r\n" },
            body.len()
        );
        Input::Sip {
            data: Bytes::from(r),
            flow: Room::flow(),
        }
    };
    core.handle(response("180 Ringing", ""), now);
    assert_eq!(core.calls()[0].state, "ringing");
    core.handle(response("200 OK", OFFER), now);
    let (wire, other) = outputs(&mut core);
    assert!(
        wire[0].starts_with(&format!("ACK sip:room@{ROOM} SIP/2.0")),
        "{wire:?}"
    );
    assert_eq!(header(&wire[0], "CSeq"), Some("1 ACK"));
    assert!(other
        .iter()
        .any(|o| matches!(o, Output::Control(Action::ConfigureLeg { .. }))));
    assert!(other.iter().any(
        |o| matches!(o, Output::Control(Action::JoinMeeting { join, .. }) if join.display_name == "Board room")
    ));
    assert_eq!(core.calls()[0].state, "in-meeting");
    assert_eq!(core.seats_held(), 1);
    // Our ACK was lost: the room sends its 2xx again and gets another.
    core.handle(response("200 OK", OFFER), now);
    let (wire, _) = outputs(&mut core);
    assert_eq!(wire.len(), 1);
    assert!(wire[0].starts_with("ACK "), "{wire:?}");
}

/// The video answered to a room that offers H.264 without a bandwidth of
/// its own, when the room's account has `rate` (kbit/s, audio and video
/// together): the answer's `b=AS` line.
fn answered_video_bandwidth(rate: Option<u32>) -> String {
    let mut room = Room::new();
    if let Some(rate) = rate {
        let with_rate = |kbps| RoomPolicy {
            max_call_rate_kbps: Some(kbps),
            encryption: None,
        };
        let policies = RoomPolicies::from([
            ("room".to_owned(), with_rate(rate)),
            ("other".to_owned(), with_rate(128)),
        ]);
        room.core
            .handle(Input::RoomPolicies(std::sync::Arc::new(policies)), room.now);
    }
    let offer = format!(
        "{OFFER}m=video 6002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
         a=fmtp:96 profile-level-id=42e01f;packetization-mode=1\r\n"
    );
    room.send("INVITE", "123456789", "", &offer);
    room.directory(Some(meeting("123456789", None)));
    let leg = LegId(1);
    let mut bound = bound_audio("127.0.0.1:40000".parse().expect("literal"));
    bound.push(BoundStream {
        kind: media_api::StreamKind::Video,
        rtp: "127.0.0.1:40002".parse().expect("literal"),
        rtcp: "127.0.0.1:40003".parse().expect("literal"),
        dtls_fingerprint: None,
    });
    room.core.handle(
        Input::LegCreated {
            leg,
            result: Ok(bound),
        },
        room.now,
    );
    room.drain();
    let ok = room
        .messages()
        .into_iter()
        .find(|m| m.starts_with("SIP/2.0 200"))
        .expect("answered");
    let video = ok.split("m=video").nth(1).expect("video answered");
    video
        .lines()
        .find(|l| l.starts_with("b=AS:"))
        .expect("b=AS")
        .to_owned()
}

#[test]
fn a_room_accounts_call_rate_caps_the_video_it_is_answered() {
    assert_eq!(answered_video_bandwidth(None), "b=AS:4000");
    assert_eq!(answered_video_bandwidth(Some(512)), "b=AS:448");
    assert_eq!(
        answered_video_bandwidth(Some(100_000)),
        "b=AS:4000",
        "a room's rate never raises the installation's"
    );
}

#[test]
fn a_room_account_that_requires_encryption_has_its_clear_offer_refused_with_488() {
    let mut room = Room::new();
    let required = RoomPolicy {
        max_call_rate_kbps: None,
        encryption: Some(media_api::Encryption::Required),
    };
    let policies = RoomPolicies::from([("room".to_owned(), required)]);
    room.core
        .handle(Input::RoomPolicies(std::sync::Arc::new(policies)), room.now);
    room.send("INVITE", "123456789", "", OFFER);
    let sent = room.messages();
    let refusal = sent
        .iter()
        .find(|m| m.starts_with("SIP/2.0 488"))
        .unwrap_or_else(|| panic!("488 for the clear offer: {sent:?}"));
    assert!(refusal.contains("Warning: 399"), "{refusal}");
    assert!(refusal.contains("encryption is required"), "{refusal}");
}
