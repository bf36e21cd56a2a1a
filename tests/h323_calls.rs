//! H.323 rooms call into meetings through `mra run`. The calls of an
//! independent H.323 stack in `../shared/vectors/h323/captures` are
//! replayed by a scripted room (its addresses, and where needed the dialled
//! alias, rewritten): a fast-start call with tunnelled H.245 reaches
//! Connect with the channels answered and exchanges audio with a SIP room
//! (baresip) in the same meeting, each hearing the other's tone; a call
//! with a separate H.245 connection and no destination opens its channels
//! over H.245 and is keyed into the meeting by user input. A room
//! registered with the gatekeeper is called out into a meeting (Setup with
//! fast start, ringing, Connect, audio). Everything MRA sends is judged by
//! tshark.

mod common;

use std::net::TcpListener;
use std::time::Duration;

use common::baresip::{Baresip, Source};
use common::h323::RasClient;
use common::h323_room::{
    ack_media_channel, fast_start_media_channel, h245_address, recorded, H323Room,
};
use common::Mra;
use h323_asn1::h225::RasMessage;
use h323_asn1::h245::{
    CommandMessage, EndSessionCommand, IndicationMessage, MultimediaSystemControlMessage as H245,
    RequestMessage, ResponseMessage, UserInputIndication,
};
use h323_asn1::rasn::types::GeneralString;
use media_api::AudioCodec;
use signaling::h323::fast_start;
use signaling::h323::h225_call::{Event, H225Call};
use signaling::h323::q931::{cause, MessageType, Q931};

#[test]
fn a_recorded_fast_start_call_joins_and_hears_a_sip_room_which_hears_it() {
    common::isolate_network();
    let mra = Mra::start();
    mra.create_meeting("123456789", None);
    let streams = recorded("faststart-tunneled-call.pcap");
    let setup = &streams[0].1[0];

    let mut sip_room = Baresip::start("sip", Source::Sine(440), Some("PCMU"));
    sip_room.dial(&format!("sip:123456789@{}", mra.sip));
    mra.wait_calls("the SIP room in the meeting", |c| {
        c.len() == 1 && c[0]["state"] == "in-meeting"
    });

    let mut room = H323Room::connect(mra.h225);
    let setup = room.rewrite_setup(setup, Some("123456789"));
    room.send_q931(&setup);
    let answers = room.until(MessageType::Connect);
    assert_eq!(answers[0].kind, MessageType::CallProceeding, "{answers:?}");
    let connect = answers.last().unwrap();
    assert_eq!(connect.call_ref, Q931::parse(&setup).unwrap().call_ref);
    let ours = fast_start_media_channel(connect, 1).expect("the Connect answers fast start");

    // Tunnelled H.245 starts: our capabilities and master/slave bid.
    while room.tunnelled.len() < 2 {
        room.next_q931().expect("tunnelled H.245 in Facility");
    }
    assert!(matches!(
        &room.tunnelled[..2],
        [
            H245::request(RequestMessage::terminalCapabilitySet(_)),
            H245::request(RequestMessage::masterSlaveDetermination(_))
        ]
    ));

    let calls = mra.wait_calls("both rooms in the meeting", |c| {
        c.len() == 2 && c.iter().all(|c| c["state"] == "in-meeting")
    });
    let h323 = calls.iter().find(|c| c["transport"] == "h323").unwrap();
    assert_eq!(h323["codec"], "PCMU/8000", "{h323}");

    let (heard, packets) = room.exchange_tone(ours, 1000.0, 4.0);
    assert!(
        packets >= 150,
        "{packets} RTP packets from MRA's answered address"
    );
    let tail = heard.window(heard.seconds() - 2.5, heard.seconds() - 0.2);
    let share = heard.share(tail, 440.0);
    assert!(
        share > 0.25,
        "the H.323 room hears the SIP room's 440 Hz: share {share:.3}, strongest {} Hz",
        heard.peak(tail)
    );
    assert!(heard.share(tail, 1000.0) < 0.02, "and not itself");

    sip_room.command("hangup", "");
    sip_room.wait_event("CALL_CLOSED", Duration::from_secs(10));
    common::wav::read(&sip_room.decoded()).assert_hears("the SIP room", &[1000.0], 440.0);

    let mut release = Q931::new(MessageType::ReleaseComplete, connect.call_ref, false);
    release.set_cause(cause::NORMAL_CLEARING);
    room.send_q931(&release.encode());
    mra.wait_calls("the H.323 call over", |c| c.is_empty());
    assert_eq!(room.tshark_complaints(mra.h225, None), "");
}

#[test]
fn a_recorded_call_with_separate_h245_opens_channels_and_is_keyed_into_the_meeting() {
    let mra = Mra::start();
    mra.create_meeting("123456789", None);
    let streams = recorded("separate-h245-call.pcap");
    let setup = &streams[0].1[0];
    let caller_h245 = streams
        .iter()
        .find(|((from, to), _)| {
            from.port() != 1720 && to.port() != 1720 && from.ip() == streams[0].0 .0.ip()
        })
        .map(|(_, p)| p.clone())
        .expect("the caller's H.245 stream");

    let mut room = H323Room::connect(mra.h225);
    room.send_q931(setup);
    let answers = room.until(MessageType::Connect);
    let h245 = h245_address(answers.last().unwrap()).expect("the Connect gives our H.245 address");
    room.open_h245(h245);

    // The recorded side of H.245, answered as it goes.
    let mut ours_rtp = None;
    let mut our_channel = None;
    let mut seen = Vec::new();
    for message in &caller_h245 {
        let kind: H245 = h323_asn1::decode(message).unwrap();
        if matches!(kind, H245::command(_)) {
            break; // endSession: ours to send at the end
        }
        if matches!(
            kind,
            H245::response(ResponseMessage::openLogicalChannelAck(_))
        ) {
            while our_channel.is_none() {
                let m = room.next_h245().expect("our channel opened");
                if let H245::request(RequestMessage::openLogicalChannel(olc)) = &m {
                    our_channel = Some(olc.forward_logical_channel_number.0);
                }
                seen.push(m);
            }
        }
        let message = room.rewrite_h245(message, our_channel.unwrap_or(0));
        room.send_h245(&message);
    }
    while ours_rtp.is_none() {
        match room.next_h245().expect("the room's channel acked") {
            H245::response(ResponseMessage::openLogicalChannelAck(ack)) => {
                ours_rtp = ack_media_channel(&ack)
            }
            m => seen.push(m),
        }
    }
    let ours_rtp = ours_rtp.unwrap();
    assert!(seen
        .iter()
        .any(|m| matches!(m, H245::request(RequestMessage::terminalCapabilitySet(_)))));

    // No destination in the Setup: the IVR asks, user input answers.
    mra.wait_calls("the room in the IVR", |c| {
        c.len() == 1 && c[0]["state"] == "ivr"
    });
    let digits = H245::indication(IndicationMessage::userInput(
        UserInputIndication::alphanumeric(GeneralString::try_from("123456789#").unwrap()),
    ));
    room.send_h245(&h323_asn1::encode(&digits).unwrap());
    let (_, packets) = room.exchange_tone(ours_rtp, 1000.0, 1.0);
    assert!(packets >= 30, "{packets} RTP packets from MRA");
    let calls = mra.wait_calls("the room keyed into the meeting", |c| {
        c.len() == 1 && c[0]["state"] == "in-meeting" && c[0]["meeting"] == "123456789"
    });
    assert_eq!(calls[0]["transport"], "h323");

    // The room ends the session; MRA ends its side and releases.
    let end = CommandMessage::endSessionCommand(EndSessionCommand::disconnect(()));
    room.send_h245(&h323_asn1::encode(&H245::command(end)).unwrap());
    let mut ended = false;
    while let Some(m) = room.next_h245() {
        ended |= matches!(m, H245::command(CommandMessage::endSessionCommand(_)));
    }
    assert!(ended, "MRA ends the H.245 session");
    let release = room.until(MessageType::ReleaseComplete);
    assert_eq!(
        release.last().unwrap().cause(),
        Some(cause::NORMAL_CLEARING)
    );
    mra.wait_calls("the call over", |c| c.is_empty());
    assert_eq!(room.tshark_complaints(mra.h225, Some(h245)), "");
}

#[test]
fn a_room_registered_with_the_gatekeeper_is_called_into_a_meeting() {
    let mra = Mra::start();
    mra.create_meeting("123456789", None);
    let (status, body) = mra.http(
        "POST",
        "/api/v1/rooms",
        Some(r#"{"user":"1001","password":"s3cret","name":"Board room","transports":["h323"]}"#),
    );
    assert_eq!(status, 201, "{body}");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut ras = RasClient::new(mra.ras).signing("s3cret");
    ras.call_signal = listener.local_addr().unwrap();
    assert!(matches!(
        ras.register(&["1001"], None),
        RasMessage::registrationConfirm(_)
    ));

    let (status, body) = mra.http(
        "POST",
        "/api/v1/meetings/123456789/invite",
        Some(r#"{"room": "1001"}"#),
    );
    assert_eq!(status, 202, "{body}");
    let mut room = H323Room::accept(&listener);
    let setup = room.next_q931().expect("MRA's Setup");
    assert_eq!(setup.kind, MessageType::Setup);
    assert_eq!(setup.called_number().as_deref(), Some("1001"));

    // The room answers with the same H.225.0 and fast-start logic that
    // answered the independent stack's recorded Setup.
    let mut callee = H225Call::new();
    let (events, _) = callee.receive(&setup.encode());
    let Some(Event::Setup(offer)) = events.first() else {
        panic!("{events:?}")
    };
    assert_eq!(offer.dial.as_deref(), Some("1001"));
    assert!(offer.h245_tunnelling);
    let fast = fast_start::answer(&offer.fast_start, &[AudioCodec::Pcmu], room.audio(), None)
        .expect("G.711 µ-law proposed both ways");
    mra.wait_calls("dialing", |c| c.len() == 1 && c[0]["state"] == "dialing");
    room.send_q931(&callee.proceeding(None));
    room.send_q931(&callee.alerting());
    mra.wait_calls("ringing", |c| c.len() == 1 && c[0]["state"] == "ringing");
    room.send_q931(&callee.connect(fast.answers.clone(), None, "Board room"));
    let calls = mra.wait_calls("the room in the meeting", |c| {
        c.len() == 1 && c[0]["state"] == "in-meeting"
    });
    assert_eq!(calls[0]["transport"], "h323");
    assert_eq!(calls[0]["codec"], "PCMU/8000");

    let (_, packets) = room.exchange_tone(fast.agreed.room_rtp, 1000.0, 1.0);
    assert!(packets >= 30, "{packets} RTP packets from MRA");
    while room.tunnelled.len() < 2 {
        room.next_q931().expect("tunnelled H.245 in Facility");
    }
    assert!(matches!(
        room.tunnelled[0],
        H245::request(RequestMessage::terminalCapabilitySet(_))
    ));

    room.send_q931(&callee.release(
        cause::NORMAL_CLEARING,
        h323_asn1::h225::ReleaseCompleteReason::undefinedReason(()),
    ));
    mra.wait_calls("the call over", |c| c.is_empty());
    assert_eq!(
        room.tshark_complaints(listener.local_addr().unwrap(), None),
        ""
    );
}
