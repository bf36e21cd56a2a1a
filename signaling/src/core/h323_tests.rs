//! Deterministic tests of H.323 calls in the core: an independent stack's
//! Setup (Callgen323, from `../shared/vectors`) comes in on a connection,
//! the test plays the driver (lookups, media legs, the H.245 listener) and
//! reads the Q.931 and H.245 the core sends.

use h323_asn1::h225::{H323UUPDUH323MessageBody as Body, H323UserInformation};
use h323_asn1::h245::{
    IndicationMessage, MultimediaSystemControlMessage as H245, RequestMessage, UserInputIndication,
};
use h323_asn1::rasn::types::GeneralString;

use super::*;
use crate::controller::Action;
use std::net::{IpAddr, SocketAddr};

use crate::h323::address::{dialled_digits, transport};
use crate::h323::q931::{cause, MessageType, Q931};
use bytes::Bytes;
use media_api::Prompt;

const CONN: u64 = 7;

/// The recorded Setup (no destination, no fast start, H.245 on its own
/// connection), to `dial` when given.
fn setup(dial: Option<&str>) -> Bytes {
    setup_with(dial, None)
}

/// The recorded Setup, also naming the caller's H.245 address if given.
fn setup_with(dial: Option<&str>, h245: Option<SocketAddr>) -> Bytes {
    // Found at run time, not build time (a shared CARGO_TARGET_DIR may
    // hold a binary built in another checkout).
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo");
    let path = std::path::Path::new(&manifest)
        .join("../../shared/vectors/h323/messages/h.225_cs.setup.hex");
    let per = std::fs::read(path).expect("the recorded Setup");
    let mut uu: H323UserInformation = h323_asn1::decode(&per).expect("decodes");
    let Body::setup(s) = &mut uu.h323_uu_pdu.h323_message_body else {
        panic!("the recorded message is a Setup");
    };
    if let Some(dial) = dial {
        s.destination_address = Some(vec![dialled_digits(dial).expect("digits")]);
    }
    s.h245_address = h245.map(transport);
    let mut q931 = Q931::new(MessageType::Setup, 5, false);
    q931.set_user_user(&h323_asn1::encode(&uu).expect("encodes"));
    q931.encode().into()
}

struct Room {
    core: Core,
    now: Instant,
}

impl Room {
    fn new(cfg: CoreConfig) -> Room {
        Room {
            core: Core::new(cfg),
            now: Instant::now(),
        }
    }

    fn feed(&mut self, input: H323Input) -> Vec<Output> {
        self.input(Input::H323(input))
    }

    fn input(&mut self, input: Input) -> Vec<Output> {
        self.core.handle(input, self.now);
        std::iter::from_fn(|| self.core.poll_output()).collect()
    }

    fn call(&mut self, dial: Option<&str>) -> Vec<Output> {
        self.send(setup(dial))
    }

    fn send(&mut self, data: Bytes) -> Vec<Output> {
        self.feed(H323Input::CallSignalling {
            conn: CONN,
            remote: "127.0.0.1:40000".parse().expect("literal"),
            local: "127.0.0.1:1720".parse().expect("literal"),
            data,
        })
    }
}

/// The Q.931 messages among `out`.
fn q931(out: &[Output]) -> Vec<Q931> {
    out.iter()
        .filter_map(|o| match o {
            Output::H323(H323Output::CallSignalling { conn: CONN, data }) => {
                Some(Q931::parse(data).expect("Q.931"))
            }
            _ => None,
        })
        .collect()
}

/// The H.245 messages among `out`.
fn h245(out: &[Output]) -> Vec<H245> {
    out.iter()
        .filter_map(|o| match o {
            Output::H323(H323Output::H245 { data, .. }) => {
                Some(h323_asn1::decode(data).expect("H.245"))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_setup_without_destination_is_answered_by_the_ivr_and_keyed_in_over_h245() {
    let mut room = Room::new(CoreConfig::default());
    let out = room.call(None);
    assert_eq!(q931(&out)[0].kind, MessageType::CallProceeding);
    let leg = LegId(1);
    let ours: IpAddr = "127.0.0.1".parse().expect("literal");
    assert!(out.contains(&Output::Control(Action::CreateLeg {
        leg,
        ip: ours,
        video: false
    })));
    assert!(out.contains(&Output::H323(H323Output::ListenH245 { leg, ip: ours })));
    assert!(out.contains(&Output::Control(Action::Prompt {
        leg,
        prompt: Prompt::EnterNumber
    })));

    let out = room.input(Input::LegCreated {
        leg,
        result: Ok(super::tests::bound_audio(
            "127.0.0.1:30000".parse().expect("literal"),
        )),
    });
    assert!(q931(&out).is_empty(), "no Connect before our H.245 address");
    let h245_at: SocketAddr = "127.0.0.1:30100".parse().expect("literal");
    let out = room.feed(H323Input::H245Listening {
        leg,
        result: Ok(h245_at),
    });
    let connect = &q931(&out)[0];
    assert_eq!(connect.kind, MessageType::Connect);
    assert_eq!(connect.call_ref, 5);

    let out = room.feed(H323Input::H245Connected { leg });
    assert!(matches!(
        &h245(&out)[..],
        [
            H245::request(RequestMessage::terminalCapabilitySet(_)),
            H245::request(RequestMessage::masterSlaveDetermination(_))
        ]
    ));

    let digits = H245::indication(IndicationMessage::userInput(
        UserInputIndication::alphanumeric(GeneralString::try_from("123456789#").expect("ascii")),
    ));
    let out = room.feed(H323Input::H245 {
        leg,
        data: h323_asn1::encode(&digits).expect("encodes").into(),
    });
    assert!(out.iter().any(
        |o| matches!(o, Output::Control(Action::TakeSeat { leg: l, request }) if *l == leg && request.number == "123456789")
    ));
    let out = room.input(super::tests::seat(
        leg,
        None,
        Some(super::tests::meeting("123456789", None)),
    ));
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::Control(Action::JoinMeeting { join, .. }) if join.meeting == "123456789")));
    assert_eq!(room.core.calls()[0].transport, "h323");
    assert_eq!(room.core.seats_held(), 1);

    let mut release = Q931::new(MessageType::ReleaseComplete, 5, false);
    release.set_cause(cause::NORMAL_CLEARING);
    let out = room.feed(H323Input::CallSignalling {
        conn: CONN,
        remote: "127.0.0.1:40000".parse().expect("literal"),
        local: "127.0.0.1:1720".parse().expect("literal"),
        data: release.encode().into(),
    });
    for done in [
        Output::H323(H323Output::CloseCallSignalling { conn: CONN }),
        Output::H323(H323Output::CloseH245 { leg }),
        Output::Control(Action::DestroyLeg { leg }),
        Output::Control(Action::ReleaseSeat { seat: 7 }),
    ] {
        assert!(out.contains(&done), "{done:?} in {out:?}");
    }
    assert!(room.core.calls().is_empty());
    assert_eq!(room.core.seats_held(), 0);
}

#[test]
fn an_unknown_meeting_is_released_with_unallocated_number() {
    let mut room = Room::new(CoreConfig {
        ivr_enabled: false,
        ..CoreConfig::default()
    });
    let out = room.call(Some("999"));
    let leg = LegId(1);
    assert!(out.iter().any(
        |o| matches!(o, Output::Control(Action::TakeSeat { leg: l, request }) if *l == leg && request.number == "999")
    ));
    let out = room.input(super::tests::seat(leg, None, None));
    let release = q931(&out);
    assert_eq!(release[0].kind, MessageType::ReleaseComplete);
    assert_eq!(release[0].cause(), Some(cause::UNALLOCATED_NUMBER));
    assert!(out.contains(&Output::H323(H323Output::CloseCallSignalling {
        conn: CONN
    })));
    assert!(room.core.calls().is_empty());
}

#[test]
fn we_open_h245_to_a_caller_that_gives_its_address_and_start_once_connected() {
    let mut room = Room::new(CoreConfig::default());
    let theirs: SocketAddr = "127.0.0.1:40100".parse().expect("literal");
    room.send(setup_with(Some("123456789"), Some(theirs)));
    let leg = LegId(1);
    let out = room.input(super::tests::seat(
        leg,
        None,
        Some(super::tests::meeting("123456789", None)),
    ));
    assert!(out.contains(&Output::H323(H323Output::ConnectH245 { leg, to: theirs })));
    // Our connection may be up before the media leg.
    let out = room.feed(H323Input::H245Connected { leg });
    assert!(h245(&out).is_empty(), "nothing to say before the media leg");
    let out = room.input(Input::LegCreated {
        leg,
        result: Ok(super::tests::bound_audio(
            "127.0.0.1:30000".parse().expect("literal"),
        )),
    });
    let connect = &q931(&out)[0];
    assert_eq!(connect.kind, MessageType::Connect);
    assert!(matches!(
        &h245(&out)[..],
        [
            H245::request(RequestMessage::terminalCapabilitySet(_)),
            H245::request(RequestMessage::masterSlaveDetermination(_))
        ]
    ));
}
