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
        video: true
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

/// The leg's media as the core last configured it, among `out`.
fn configured(out: &[Output]) -> Option<media_api::LegMedia> {
    out.iter().rev().find_map(|o| match o {
        Output::Control(Action::ConfigureLeg { media, .. }) => Some(media.clone()),
        _ => None,
    })
}

/// Calls in with the recorded Setup, binds audio and video (RTP on
/// 30000 and 30002) and connects H.245 (ours on 30100): the capability
/// set we send first.
fn our_capabilities(room: &mut Room) -> h323_asn1::h245::TerminalCapabilitySet {
    room.call(None);
    let leg = LegId(1);
    let at = |port| SocketAddr::from(([127, 0, 0, 1], port));
    let mut bound = super::tests::bound_audio(at(30000));
    bound.push(media_api::BoundStream {
        kind: media_api::StreamKind::Video,
        rtp: at(30002),
        rtcp: at(30003),
        dtls_fingerprint: None,
    });
    room.input(Input::LegCreated {
        leg,
        result: Ok(bound),
    });
    room.feed(H323Input::H245Listening {
        leg,
        result: Ok(at(30100)),
    });
    let out = room.feed(H323Input::H245Connected { leg });
    match h245(&out).first().cloned() {
        Some(H245::request(RequestMessage::terminalCapabilitySet(ours))) => ours,
        _ => panic!("our capabilities first: {out:?}"),
    }
}

/// The H.264 rate our capability set offers a room calling with the
/// recorded Setup, when the account of its first source alias has `rate`.
fn offered_kbps(rate: Option<u32>) -> Option<u32> {
    use crate::h323::address::alias_text;
    let mut room = Room::new(CoreConfig::default());
    if let Some(rate) = rate {
        let per = Q931::parse(&setup(None)).expect("Q.931");
        let uu: H323UserInformation =
            h323_asn1::decode(per.user_user().expect("UUIE")).expect("decodes");
        let Body::setup(s) = uu.h323_uu_pdu.h323_message_body else {
            panic!("a Setup");
        };
        let alias = s.source_address.iter().flatten().find_map(alias_text);
        let policy = RoomPolicy {
            max_call_rate_kbps: Some(rate),
            encryption: None,
        };
        let policies = RoomPolicies::from([(alias.expect("the recorded caller's alias"), policy)]);
        room.input(Input::RoomPolicies(std::sync::Arc::new(policies)));
    }
    let ours = our_capabilities(&mut room);
    crate::h323::capabilities::receivable_video(&ours)?
        .codec
        .limits()
        .max_kbps
}

#[test]
fn a_room_accounts_call_rate_caps_the_h264_we_offer_over_h245() {
    assert_eq!(offered_kbps(None), Some(4000));
    assert_eq!(offered_kbps(Some(512)), Some(448));
}

/// Over H.245: our capability set offers H.264; the room's H.264 channel
/// is accepted at our video address; ours opens once its capabilities
/// and the roles are known, in the mode and within the level it takes;
/// its flow control caps our rate; keyframes are asked both ways with
/// videoFastUpdatePicture on the right channels.
#[test]
fn video_channels_open_over_h245_and_keyframes_are_asked_with_it() {
    use crate::h323::capabilities::{receivable_video, terminal_capability_set};
    use crate::h323::channels::{sending, Carried};
    use h323_asn1::h245::{
        CommandMessage, DataType, FlowControlCommand, FlowControlCommandRestriction,
        FlowControlCommandScope, H2250LogicalChannelAckParameters, LogicalChannelNumber,
        MasterSlaveDetermination, MiscellaneousCommand, MiscellaneousCommandType,
        OpenLogicalChannelAck, OpenLogicalChannelAckForwardMultiplexAckParameters as AckParameters,
        ResponseMessage,
    };
    use media_api::{Direction, MediaEvent, VideoLimits};

    use crate::h323::h245_address::{h245_socket_addr, h245_transport};

    let mut room = Room::new(CoreConfig::default());
    let ours = our_capabilities(&mut room);
    let leg = LegId(1);
    let at = |port| SocketAddr::from(([127, 0, 0, 1], port));
    assert!(
        receivable_video(&ours).is_some_and(|v| v.mode_1),
        "H.264 in our set"
    );

    let send = |room: &mut Room, m: H245| {
        room.feed(H323Input::H245 {
            leg,
            data: h323_asn1::encode(&m).expect("encodes").into(),
        })
    };
    // The room's audio channel, then its video channel to us: level 2.2,
    // mode 0, payload type 96 (media waits for an audio codec).
    let audio = sending(8, Carried::Audio(media_api::AudioCodec::Pcmu), at(40001));
    let olc = audio.expect("G.711 channel");
    send(
        &mut room,
        H245::request(RequestMessage::openLogicalChannel(olc)),
    );
    let h264 = Carried::H264 {
        level_idc: 22,
        limits: VideoLimits::of_h264_level(22, false),
        kbps: 512,
        payload_type: 96,
        mode: 0,
    };
    let olc = sending(9, h264, at(40003)).expect("H.264 channel");
    let out = send(
        &mut room,
        H245::request(RequestMessage::openLogicalChannel(olc)),
    );
    let acked = h245(&out).into_iter().find_map(|m| match m {
        H245::response(ResponseMessage::openLogicalChannelAck(a)) => Some(a),
        _ => None,
    });
    let acked = acked.expect("the room's video channel acked");
    let Some(AckParameters::h2250LogicalChannelAckParameters(p)) =
        &acked.forward_multiplex_ack_parameters
    else {
        panic!("{acked:?}");
    };
    assert_eq!(
        p.media_channel.as_ref().and_then(h245_socket_addr),
        Some(at(30002))
    );
    let media = configured(&out).expect("media configured");
    let (stream, format) = media.video().expect("video");
    assert_eq!(stream.direction, Direction::RecvOnly);
    assert!(format.accepted.contains(96));

    // Its capabilities (H.264 to 1080p at 512 kbit/s, both modes) and
    // the roles: our channel.
    let ours = crate::h323::capabilities::OurVideo {
        kbps: 512,
        h263: false,
    };
    let tcs = terminal_capability_set(1, &[media_api::AudioCodec::Pcmu], Some(ours));
    send(
        &mut room,
        H245::request(RequestMessage::terminalCapabilitySet(tcs)),
    );
    let out = send(
        &mut room,
        H245::request(RequestMessage::masterSlaveDetermination(
            MasterSlaveDetermination::new(50, 7),
        )),
    );
    let ours = h245(&out).into_iter().find_map(|m| match m {
        H245::request(RequestMessage::openLogicalChannel(o))
            if matches!(
                o.forward_logical_channel_parameters.data_type,
                DataType::videoData(_)
            ) =>
        {
            Some(o)
        }
        _ => None,
    });
    let ours = ours.expect("our video channel opened");
    let number = ours.forward_logical_channel_number.clone();
    let ack = H2250LogicalChannelAckParameters::required()
        .with_session_id(2)
        .with_media_channel(h245_transport(at(40002)));
    let out = send(
        &mut room,
        H245::response(ResponseMessage::openLogicalChannelAck(
            OpenLogicalChannelAck::required(number.clone()).with_forward_multiplex_ack_parameters(
                AckParameters::h2250LogicalChannelAckParameters(ack),
            ),
        )),
    );
    let media = configured(&out).expect("media configured");
    let (stream, format) = media.video().expect("video");
    assert_eq!(stream.direction, Direction::SendRecv);
    assert_eq!(stream.remote_rtp, Some(at(40002)));
    assert_eq!(stream.payload_type, 109);
    assert_eq!(format.packetization_mode, 1, "it takes mode 1");
    assert_eq!(
        format.send_mode(512).height,
        360,
        "1080p decoder at 512 kbit/s"
    );
    assert_eq!(stream.bandwidth_kbps, Some(512));

    // Its flow control caps what we send.
    let out = send(
        &mut room,
        H245::command(CommandMessage::flowControlCommand(FlowControlCommand::new(
            FlowControlCommandScope::logicalChannelNumber(number.clone()),
            FlowControlCommandRestriction::maximumBitRate(3840),
        ))),
    );
    let media = configured(&out).expect("media configured");
    assert_eq!(media.video().expect("video").0.bandwidth_kbps, Some(384));

    // So does what our gatekeeper grants the call (ARQ, BRQ), until it
    // disengages.
    let call = room.core.calls()[0].call_id.clone();
    let out = room.input(Input::CallGrant(crate::h323::ras::CallGrant {
        call: call.clone(),
        kbps: 320,
    }));
    let media = configured(&out).expect("media configured");
    assert_eq!(
        media.video().expect("video").0.bandwidth_kbps,
        Some(256),
        "320 kbit/s less audio"
    );
    room.input(Input::CallGrant(crate::h323::ras::CallGrant {
        call: "another call".into(),
        kbps: 128,
    }));
    assert_eq!(room.core.edges.grants.len(), 2);
    room.input(Input::CallGrant(crate::h323::ras::CallGrant {
        call,
        kbps: 0,
    }));
    assert_eq!(room.core.edges.grants.len(), 1);

    // Keyframes: its ask reaches our encoder only once the leg has media;
    // ours goes on its channel.
    let fast_update = |channel| {
        H245::command(CommandMessage::miscellaneousCommand(
            MiscellaneousCommand::required(
                LogicalChannelNumber(channel),
                MiscellaneousCommandType::videoFastUpdatePicture(()),
            ),
        ))
    };
    let out = send(&mut room, fast_update(number.0));
    assert!(
        out.contains(&Output::Control(Action::SendKeyframe { leg })),
        "{out:?}"
    );
    let out = room.input(Input::Media(MediaEvent::KeyframeWanted { leg }));
    assert_eq!(h245(&out), [fast_update(9)]);
}

#[test]
fn a_required_encryption_policy_refuses_h323_calls_which_are_in_clear() {
    let mut room = Room::new(CoreConfig {
        encryption: crate::sdp::Encryption::Required,
        ..CoreConfig::default()
    });
    let out = room.call(Some("123456789"));
    assert!(!out
        .iter()
        .any(|o| matches!(o, Output::Control(Action::TakeSeat { .. }))));
    let release = q931(&out);
    assert_eq!(release[0].kind, MessageType::ReleaseComplete);
    assert_eq!(release[0].cause(), Some(cause::CALL_REJECTED));
    assert_eq!(room.core.stats().calls_refused, 1);
    assert!(room.core.calls().is_empty());
}
