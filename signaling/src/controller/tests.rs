//! The controller against a fake room: no sockets, no protocol, time
//! moved by the test. What the controller asks of the room and what it
//! tells the meeting side and media are the observable behaviour.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use media_api::layout::{Layout, LayoutChange, MeetingLayout};
use media_api::{BoundStream, LegId, LegMedia, StreamKind};
use meeting::{Meeting, Refusal, Seat};

use super::*;
use crate::call::{Call, NewCall, Phase};
use crate::ivr::Prompt;

/// What the controller asked of the room.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Asked {
    Answering(LegId),
    MediaReady {
        leg: LegId,
        rtp: SocketAddr,
        dialing: bool,
    },
    Release {
        leg: LegId,
        why: Release,
        text: String,
        bound: bool,
    },
    Forget(LegId),
}

#[derive(Default)]
struct FakeRoom {
    asked: Vec<Asked>,
}

impl RoomSignaling for FakeRoom {
    fn answering(&mut self, call: &Call, _now: Instant) {
        self.asked.push(Asked::Answering(call.leg));
    }

    fn media_ready(&mut self, call: &Call, _now: Instant) {
        self.asked.push(Asked::MediaReady {
            leg: call.leg,
            rtp: call.local_media.expect("bound").audio.rtp,
            dialing: matches!(call.phase, Phase::Dialing { .. }),
        });
    }

    fn release(&mut self, call: &Call, why: Release, text: &str, _now: Instant) {
        self.asked.push(Asked::Release {
            leg: call.leg,
            why,
            text: text.into(),
            bound: call.local_media.is_some(),
        });
    }

    fn forget(&mut self, leg: LegId) {
        self.asked.push(Asked::Forget(leg));
    }
}

const LEG: LegId = LegId(1);
const ADVERTISED: &str = "192.0.2.10";

/// A controller, its fake room and a clock.
struct Bench {
    c: Controller,
    room: FakeRoom,
    now: Instant,
}

impl Bench {
    fn new() -> Bench {
        Bench {
            c: Controller::new(ControllerConfig {
                ivr_enabled: true,
                advertised: Some(ADVERTISED.parse().expect("literal")),
                ..ControllerConfig::default()
            }),
            room: FakeRoom::default(),
            now: Instant::now(),
        }
    }

    fn event(&mut self, e: RoomEvent) -> Vec<Action> {
        self.c.on_event(e, &mut self.room, self.now);
        self.actions()
    }

    fn actions(&mut self) -> Vec<Action> {
        std::iter::from_fn(|| self.c.poll_action()).collect()
    }

    fn asked(&mut self) -> Vec<Asked> {
        std::mem::take(&mut self.room.asked)
    }

    /// A room calls in, having dialed `number` (or nothing).
    fn incoming(&mut self, number: Option<&str>) -> Vec<Action> {
        self.event(RoomEvent::Incoming(new_call(number)))
    }

    fn seat(&mut self, result: Result<Seat, Refusal>) -> Vec<Action> {
        self.c.on_seat(LEG, Ok(result), &mut self.room, self.now);
        self.actions()
    }

    fn leg_created(&mut self, result: Result<BoundStream, String>) -> Vec<Action> {
        let result = result.map(|audio| vec![audio]);
        self.c.on_leg_created(LEG, result, &mut self.room, self.now);
        self.actions()
    }

    fn digits(&mut self, digits: &str) -> Vec<Action> {
        for digit in digits.chars() {
            self.c.on_digit(LEG, digit, &mut self.room, self.now);
        }
        self.actions()
    }

    fn wait(&mut self, d: Duration) -> Vec<Action> {
        self.now += d;
        self.c.on_timer(&mut self.room, self.now);
        self.actions()
    }

    fn state(&self) -> &'static str {
        self.c.call(LEG).map_or("gone", Call::state)
    }
}

fn new_call(number: Option<&str>) -> NewCall {
    NewCall {
        leg: LEG,
        display_name: "Board room".into(),
        caller: "sip:board@example.com".into(),
        remote: "198.51.100.7:5060".parse().expect("literal"),
        local_ip: "10.0.0.2".parse().expect("literal"),
        number: number.map(str::to_owned),
        password: None,
        media: Some(LegMedia::default()),
        video: false,
        layout: None,
        clear_only: false,
    }
}

fn board(number: &str) -> Seat {
    Seat {
        id: 7,
        meeting: Meeting {
            number: number.into(),
            password: None,
            host_pin: None,
            name: "Board".into(),
            locked: false,
            layout: Default::default(),
            encryption: None,
        },
    }
}

fn bound() -> BoundStream {
    let ip: IpAddr = "10.0.0.2".parse().expect("literal");
    BoundStream {
        kind: StreamKind::Audio,
        rtp: SocketAddr::new(ip, 40000),
        rtcp: SocketAddr::new(ip, 40001),
        dtls_fingerprint: None,
    }
}

fn seen_rtp() -> SocketAddr {
    SocketAddr::new(ADVERTISED.parse().expect("literal"), 40000)
}

fn prompts(actions: &[Action]) -> Vec<Prompt> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Prompt { prompt, .. } => Some(*prompt),
            _ => None,
        })
        .collect()
}

#[test]
fn a_dialed_room_takes_its_seat_before_it_is_answered_then_joins() {
    let mut b = Bench::new();
    let out = b.incoming(Some("123456789"));
    let Some(Action::TakeSeat { leg, request }) = out.first() else {
        panic!("{out:?}");
    };
    assert_eq!((*leg, request.number.as_str()), (LEG, "123456789"));
    assert_eq!(request.holder, "Board room");
    assert!(b.asked().is_empty(), "not answered before admission");
    assert_eq!(b.state(), "admitting");

    let out = b.seat(Ok(board("123456789")));
    assert_eq!(
        out[0],
        Action::CreateLeg {
            leg: LEG,
            ip: "10.0.0.2".parse().unwrap(),
            video: false,
        }
    );
    assert!(
        matches!(&out[1], Action::JoinMeeting { join, .. } if join.meeting == "123456789" && join.display_name == "Board room")
    );
    assert_eq!(b.asked(), [Asked::Answering(LEG)]);
    assert_eq!(b.c.seats_held(), 1);

    let out = b.leg_created(Ok(bound()));
    assert_eq!(
        out,
        [Action::ConfigureLeg {
            leg: LEG,
            media: LegMedia::default()
        }]
    );
    let asked = b.asked();
    assert_eq!(
        asked,
        [Asked::MediaReady {
            leg: LEG,
            rtp: seen_rtp(),
            dialing: false
        }],
        "the room is told the advertised address"
    );
    assert_eq!(b.state(), "in-meeting");

    let out = b.event(RoomEvent::Gone { leg: LEG });
    assert_eq!(
        out,
        [
            Action::ReleaseSeat { seat: 7 },
            Action::DestroyLeg { leg: LEG }
        ]
    );
    assert_eq!(b.asked(), [Asked::Forget(LEG)]);
    assert_eq!(b.state(), "gone");
}

#[test]
fn a_full_meeting_is_refused_with_a_neutral_reason_and_no_media() {
    let mut b = Bench::new();
    b.incoming(Some("123456789"));
    let out = b.seat(Err(Refusal::Full));
    assert!(out.is_empty(), "no leg, no prompt: {out:?}");
    let asked = b.asked();
    assert_eq!(
        asked,
        [Asked::Release {
            leg: LEG,
            why: Release::Full,
            text: "Meeting is full".into(),
            bound: false
        }]
    );
    assert_eq!(b.c.stats.calls_refused, 1);
    let out = b.event(RoomEvent::Gone { leg: LEG });
    assert!(out.is_empty(), "nothing to give back: {out:?}");
}

/// A seat in a meeting that admits only encrypted rooms.
fn secure_board(number: &str) -> Seat {
    let mut seat = board(number);
    seat.meeting.encryption = Some(media_api::Encryption::Required);
    seat
}

/// Media agreed in PCMU on one stream, in clear.
fn clear_media() -> LegMedia {
    let format = media_api::AudioFormat {
        codec: media_api::AudioCodec::Pcmu,
        options: Default::default(),
        ptime: 20,
        dtmf_payload_type: None,
    };
    LegMedia::of(media_api::StreamMedia::audio_stream(0, format, None))
}

/// The same, keyed by SDES.
fn encrypted_media() -> LegMedia {
    let key = media_api::SrtpKey {
        key_salt: vec![1; 30],
        mki_len: 0,
    };
    let mut media = clear_media();
    media.streams[0].crypto = Some(media_api::Crypto::Sdes {
        suite: media_api::SrtpSuite::AesCm128HmacSha1_80,
        ours: key.clone(),
        theirs: key,
    });
    media
}

#[test]
fn a_meeting_that_requires_encryption_refuses_a_clear_room_before_answering_and_admits_an_encrypted_one(
) {
    let mut b = Bench::new();
    b.event(RoomEvent::Incoming(NewCall {
        media: Some(clear_media()),
        ..new_call(Some("123456789"))
    }));
    let out = b.seat(Ok(secure_board("123456789")));
    assert_eq!(out, [Action::ReleaseSeat { seat: 7 }], "no leg, no prompt");
    assert_eq!(
        b.asked(),
        [Asked::Release {
            leg: LEG,
            why: Release::NotEncrypted,
            text: "Encryption is required in this meeting".into(),
            bound: false
        }]
    );
    assert_eq!(b.c.stats.calls_refused, 1);
    b.event(RoomEvent::Gone { leg: LEG });

    b.event(RoomEvent::Incoming(NewCall {
        media: Some(encrypted_media()),
        ..new_call(Some("123456789"))
    }));
    let out = b.seat(Ok(secure_board("123456789")));
    assert!(
        matches!(out.last(), Some(Action::JoinMeeting { .. })),
        "{out:?}"
    );
    // A re-offer that drops the keys ends it.
    b.leg_created(Ok(bound()));
    b.asked();
    b.event(RoomEvent::Media {
        leg: LEG,
        media: clear_media(),
    });
    assert!(
        matches!(
            &b.asked()[..],
            [Asked::Release {
                why: Release::NotEncrypted,
                ..
            }]
        ),
        "a required meeting's call agreed in clear is ended"
    );
}

#[test]
fn a_clear_room_keying_in_a_meeting_that_requires_encryption_hears_nothing_of_it() {
    let mut b = Bench::new();
    b.event(RoomEvent::Incoming(NewCall {
        media: Some(clear_media()),
        ..new_call(None)
    }));
    b.leg_created(Ok(bound()));
    b.asked();
    b.digits("123456789#");
    let out = b.seat(Ok(secure_board("123456789")));
    assert!(prompts(&out).is_empty(), "no prompt: {out:?}");
    assert!(
        !out.iter().any(|a| matches!(a, Action::JoinMeeting { .. })),
        "{out:?}"
    );
    assert!(
        matches!(
            &b.asked()[..],
            [Asked::Release {
                why: Release::NotEncrypted,
                bound: true,
                ..
            }]
        ),
        "the IVR call just ends"
    );
}

#[test]
fn an_h323_room_is_never_taken_into_a_meeting_that_requires_encryption() {
    let mut b = Bench::new();
    b.event(RoomEvent::Incoming(NewCall {
        media: None,
        clear_only: true,
        ..new_call(Some("123456789"))
    }));
    b.seat(Ok(secure_board("123456789")));
    assert!(matches!(
        &b.asked()[..],
        [Asked::Release {
            why: Release::NotEncrypted,
            ..
        }]
    ));
}

#[test]
fn a_room_without_a_number_is_asked_for_one_and_may_try_again() {
    let mut b = Bench::new();
    let out = b.incoming(None);
    assert!(matches!(out[0], Action::CreateLeg { .. }), "{out:?}");
    assert!(prompts(&out).contains(&Prompt::EnterNumber), "{out:?}");
    assert_eq!(b.asked(), [Asked::Answering(LEG)]);
    assert_eq!(b.state(), "ivr");

    let out = b.digits("42#");
    assert!(
        matches!(&out[..], [Action::TakeSeat { request, .. }] if request.number == "42"),
        "{out:?}"
    );
    let out = b.seat(Err(Refusal::UnknownMeeting));
    assert!(prompts(&out).contains(&Prompt::UnknownMeeting), "{out:?}");
    assert!(b.asked().is_empty(), "still in the IVR");

    b.digits("123456789#");
    let out = b.seat(Ok(board("123456789")));
    assert_eq!(prompts(&out), [Prompt::Joining]);
    assert!(
        matches!(out.last(), Some(Action::JoinMeeting { .. })),
        "{out:?}"
    );
    assert!(
        !out.iter().any(|a| matches!(a, Action::CreateLeg { .. })),
        "answered once"
    );
    assert_eq!(b.state(), "in-meeting");
}

#[test]
fn a_silent_room_is_released_after_its_attempts_run_out() {
    let mut b = Bench::new();
    b.incoming(None);
    b.asked();
    let mut waited = Duration::ZERO;
    while b.state() == "ivr" && waited < Duration::from_secs(600) {
        let next = b.c.next_deadline().expect("the IVR waits for digits");
        let step = next - b.now;
        waited += step;
        b.wait(step);
    }
    assert_eq!(
        b.asked(),
        [Asked::Release {
            leg: LEG,
            why: Release::UnknownMeeting,
            text: "Meeting not found".into(),
            bound: false
        }]
    );
    assert!(
        waited >= Duration::from_secs(45),
        "three first-digit timeouts, waited {waited:?}"
    );
}

#[test]
fn digits_typed_ahead_while_a_number_is_checked_are_kept() {
    let mut b = Bench::new();
    b.incoming(None);
    b.digits("42#");
    b.digits("9#");
    let out = b.seat(Err(Refusal::UnknownMeeting));
    assert!(
        out.iter()
            .any(|a| matches!(a, Action::TakeSeat { request, .. } if request.number == "9")),
        "{out:?}"
    );
}

#[test]
fn a_seat_granted_after_the_room_gave_up_is_given_back() {
    let mut b = Bench::new();
    b.incoming(Some("123456789"));
    b.event(RoomEvent::Cancelled { leg: LEG });
    assert!(matches!(
        &b.asked()[..],
        [Asked::Release {
            why: Release::Cancelled,
            ..
        }]
    ));
    assert_eq!(b.c.stats.calls_cancelled, 1);
    let out = b.seat(Ok(board("123456789")));
    assert_eq!(out, [Action::ReleaseSeat { seat: 7 }]);
    assert!(b.asked().is_empty(), "not answered");
}

#[test]
fn a_cancel_after_the_answer_began_is_ignored() {
    let mut b = Bench::new();
    b.incoming(Some("123456789"));
    b.seat(Ok(board("123456789")));
    b.asked();
    b.event(RoomEvent::Cancelled { leg: LEG });
    assert!(b.asked().is_empty());
    assert_eq!(b.state(), "in-meeting");
}

#[test]
fn a_call_ends_once_and_its_seat_is_given_back_when_it_starts_ending() {
    let mut b = Bench::new();
    b.incoming(Some("123456789"));
    b.seat(Ok(board("123456789")));
    b.leg_created(Ok(bound()));
    b.asked();
    let failed = || RoomEvent::Failed {
        leg: LEG,
        why: Release::Timeout,
        text: "Session timer expired".into(),
    };
    let out = b.event(failed());
    assert_eq!(
        out,
        [Action::ReleaseSeat { seat: 7 }],
        "seat free while the room is told"
    );
    assert_eq!(b.c.seats_held(), 0);
    let out = b.event(failed());
    assert!(out.is_empty());
    assert_eq!(
        b.asked(),
        [Asked::Release {
            leg: LEG,
            why: Release::Timeout,
            text: "Session timer expired".into(),
            bound: true
        }],
        "released once"
    );
    assert!(b.digits("1#").is_empty(), "an ending call takes no digits");
    let out = b.event(RoomEvent::Gone { leg: LEG });
    assert_eq!(out, [Action::DestroyLeg { leg: LEG }]);
}

#[test]
fn a_lost_meeting_or_media_failure_releases_the_room_with_its_reason() {
    let mut b = Bench::new();
    b.incoming(Some("123456789"));
    b.seat(Ok(board("123456789")));
    b.asked();
    b.leg_created(Err("no ports".into()));
    assert_eq!(
        b.asked(),
        [Asked::Release {
            leg: LEG,
            why: Release::Unavailable,
            text: "No media resources".into(),
            bound: false
        }]
    );

    let mut b = Bench::new();
    b.incoming(Some("123456789"));
    b.seat(Ok(board("123456789")));
    b.leg_created(Ok(bound()));
    b.asked();
    b.c.end(
        LEG,
        Release::MeetingLost,
        "meeting service closed",
        &mut b.room,
        b.now,
    );
    assert!(matches!(
        &b.asked()[..],
        [Asked::Release {
            why: Release::MeetingLost,
            ..
        }]
    ));
}

#[test]
fn a_room_called_out_is_placed_once_media_is_bound_and_joins_when_it_answers() {
    let mut b = Bench::new();
    b.c.dial(
        NewCall {
            number: None,
            media: None,
            ..new_call(None)
        },
        board("555"),
    );
    let out = b.actions();
    assert_eq!(
        out,
        [Action::CreateLeg {
            leg: LEG,
            ip: "10.0.0.2".parse().unwrap(),
            video: false,
        }]
    );
    assert_eq!(b.state(), "dialing");
    assert_eq!(b.c.seats_held(), 1);

    let out = b.leg_created(Ok(bound()));
    assert!(out.is_empty(), "nothing agreed yet: {out:?}");
    assert_eq!(
        b.asked(),
        [Asked::MediaReady {
            leg: LEG,
            rtp: seen_rtp(),
            dialing: true
        }]
    );

    b.event(RoomEvent::Ringing { leg: LEG });
    assert_eq!(b.state(), "ringing");
    let mut out = b.event(RoomEvent::Media {
        leg: LEG,
        media: LegMedia::default(),
    });
    out.extend(b.event(RoomEvent::Answered { leg: LEG }));
    assert!(
        matches!(out[0], Action::ConfigureLeg { .. }),
        "configured before joining: {out:?}"
    );
    assert!(matches!(&out[1], Action::JoinMeeting { join, .. } if join.meeting == "555"));
    assert_eq!(b.state(), "in-meeting");
    assert_eq!(b.c.stats.calls_admitted, 1);
}

#[test]
fn shutdown_releases_every_call() {
    let mut b = Bench::new();
    b.incoming(Some("123456789"));
    b.c.shutdown(&mut b.room, b.now);
    assert!(matches!(
        &b.asked()[..],
        [Asked::Release {
            why: Release::Unavailable,
            ..
        }]
    ));
}

#[test]
fn a_room_joins_with_its_dialed_layout_and_its_meetings_and_star_8_turns_the_layout() {
    let mut b = Bench::new();
    b.event(RoomEvent::Incoming(NewCall {
        layout: Some(Layout::Grid(2)),
        ..new_call(Some("123456789"))
    }));
    let mut seat = board("123456789");
    seat.meeting.layout = MeetingLayout {
        layout: Some(Layout::OnePlus7),
        polling_seconds: Some(10),
    };
    let out = b.seat(Ok(seat));
    let join = out.iter().find_map(|a| match a {
        Action::JoinMeeting { join, .. } => Some(join),
        _ => None,
    });
    let join = join.expect("joins");
    assert_eq!(join.layout, Some(Layout::Grid(2)));
    assert_eq!(join.meeting_layout.unwrap().polling_seconds, Some(10));

    let next = || Action::SetLayout {
        leg: LEG,
        change: LayoutChange::Next,
    };
    assert_eq!(b.digits("*8"), [next()]);
    assert_eq!(b.digits("8"), [], "8 alone is no command");
    assert_eq!(b.digits("*58*8"), [next()]);
    assert_eq!(b.digits("**"), []);
}
