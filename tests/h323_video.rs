//! H.323 video: a room the test scripts (its calls built with the same
//! H.225.0 code as a room's, its camera FFmpeg's libx264 and its screen
//! FFmpeg's decoder) proposes H.264 both ways in fast start, next to a
//! baresip SIP room whose camera is red. Each sees the other: baresip's
//! `snapshot_recv` shows the H.323 room's lime, FFmpeg decodes red from
//! what MRA sends the H.323 room. Keyframes are asked both ways with
//! H.245 videoFastUpdatePicture, tunnelled; tshark reads every H.225.0 and
//! H.245 message cleanly. An older room that proposes only H.263 (its
//! camera FFmpeg's RFC 2190 packetiser at CIF) is seen and sees the same
//! way, its camera transcoded to H.264 for the meeting.

mod common;

use std::time::Duration;

use common::baresip::{Baresip, Source};
use common::clips::{clip, looks, GREEN, RED};
use common::h323_room::{H323Room, FROM_ROOM, TO_ROOM, VIDEO_PT};
use common::rtp_camera::{RoomCodec, RtpCamera};
use common::{isolate_network, Mra};
use h323_asn1::h245::{
    CommandMessage, LogicalChannelNumber, MiscellaneousCommand, MiscellaneousCommandType,
    MultimediaSystemControlMessage as H245,
};
use signaling::h323::h225_call::H225Call;
use signaling::h323::q931::cause;

const PT: u8 = VIDEO_PT;

/// H.263's static payload type.
const H263_PT: u8 = 34;

fn fast_update(channel: u16) -> H245 {
    H245::command(CommandMessage::miscellaneousCommand(
        MiscellaneousCommand::required(
            LogicalChannelNumber(channel),
            MiscellaneousCommandType::videoFastUpdatePicture(()),
        ),
    ))
}

/// `mra run` with a meeting in which a baresip SIP room sends a red
/// H.264 camera and a tone: the gateway, the room, its clip's directory.
fn meeting_with_a_red_sip_room() -> (Mra, Baresip, tempfile::TempDir) {
    isolate_network();
    let mra = Mra::start();
    mra.create_meeting("123456789", None);
    let dir = tempfile::tempdir().unwrap();
    let red = clip(dir.path(), "red", "red.mp4");
    let mut sip_room = Baresip::video_room("boardroom", Source::Sine(440), &red, "H264");
    sip_room.dial(&format!("sip:123456789@{}", mra.sip));
    mra.wait_calls("the SIP room in the meeting", |c| {
        c.len() == 1 && c[0]["state"] == "in-meeting"
    });
    (mra, sip_room, dir)
}

/// What each room sees once the SIP room sees the H.323 room's lime and
/// the H.323 room (its screen decoding `payload_type`) the SIP room's
/// red. The H.323 room's screen asks for keyframes while it waits for
/// one.
fn see_each_other(
    sip_room: &mut Baresip,
    room: &mut H323Room,
    caller: &mut H225Call,
    camera: &RtpCamera,
    payload_type: u8,
) -> ([u8; 3], [u8; 3]) {
    let within = Duration::from_secs(30);
    let sip_sees = sip_room.received_colour(within, |rgb| looks(rgb, GREEN));
    let ask = h323_asn1::encode(&fast_update(TO_ROOM)).unwrap();
    let h323_sees = camera.received_colour(
        payload_type,
        within,
        |rgb| looks(rgb, RED),
        || room.send_q931(&caller.tunnel(ask.clone()).expect("tunnelling agreed")),
    );
    (sip_sees, h323_sees)
}

/// The H.323 room hangs up; tshark finds nothing wrong in its H.225.0
/// and H.245.
fn hang_up(mra: &Mra, room: &mut H323Room, caller: &mut H225Call) {
    room.send_q931(&caller.release(
        cause::NORMAL_CLEARING,
        h323_asn1::h225::ReleaseCompleteReason::undefinedReason(()),
    ));
    mra.wait_calls("the H.323 call over", |c| c.len() == 1);
    assert_eq!(room.tshark_complaints(mra.h225, None), "");
}

#[test]
fn an_h323_room_and_a_sip_room_see_each_other() {
    let (mra, mut sip_room, _clips) = meeting_with_a_red_sip_room();

    let mut room = H323Room::connect(mra.h225);
    let mut camera = RtpCamera::new(RoomCodec::H264);
    let (mut caller, video_to) =
        room.video_call("123456789", "Video room", camera.rtp(), camera.rtcp());
    camera.start("lime", PT, video_to);

    let (sip_sees, h323_sees) = see_each_other(&mut sip_room, &mut room, &mut caller, &camera, PT);
    let calls = mra.wait_calls("the H.323 room's video both ways", |c| {
        c.iter().any(|c| {
            let video = &c["media"]["video"];
            c["transport"] == "h323"
                && video["to_meeting"] == "forwarded"
                && video["packets_forwarded"].as_u64() > Some(30)
                && video["frames_sent"].as_u64() > Some(10)
        })
    });
    let h323 = calls.iter().find(|c| c["transport"] == "h323").unwrap();
    let video = &h323["media"]["video"];
    common::assert_receives_h264_cleanly(video);

    // The room asks for a keyframe again; MRA's encoder for it makes one.
    let sent = video["keyframes_sent"].as_u64().unwrap();
    let ask = h323_asn1::encode(&fast_update(TO_ROOM)).unwrap();
    room.send_q931(&caller.tunnel(ask).expect("tunnelling agreed"));
    mra.wait_calls("a keyframe for the room's ask", |c| {
        c.iter().any(|c| {
            c["transport"] == "h323" && c["media"]["video"]["keyframes_sent"].as_u64() > Some(sent)
        })
    });
    // MRA asked the room for one when the SIP room began to watch it.
    while !room.tunnelled.contains(&fast_update(FROM_ROOM)) {
        room.next_q931()
            .expect("MRA's videoFastUpdatePicture, tunnelled");
    }

    hang_up(&mra, &mut room, &mut caller);
    println!(
        "the SIP room sees {sip_sees:?}, the H.323 room {h323_sees:?} ({} packets); video {video}",
        camera.received()
    );
}

#[test]
fn an_h263_only_h323_room_and_a_sip_room_see_each_other() {
    let (mra, mut sip_room, _clips) = meeting_with_a_red_sip_room();

    let mut room = H323Room::connect(mra.h225);
    let mut camera = RtpCamera::new(RoomCodec::H263);
    let h263 = signaling::h323::channels::Carried::H263 { kbps: 768 };
    let (mut caller, video_to) =
        room.video_call_in(h263, "123456789", "Old room", camera.rtp(), camera.rtcp());
    camera.start("lime", H263_PT, video_to);

    let (sip_sees, h323_sees) =
        see_each_other(&mut sip_room, &mut room, &mut caller, &camera, H263_PT);
    let calls = mra.wait_calls("the H.263 room's video both ways", |c| {
        c.iter().any(|c| {
            let video = &c["media"]["video"];
            c["transport"] == "h323"
                && video["frames_transcoded"].as_u64() > Some(10)
                && video["frames_sent"].as_u64() > Some(10)
        })
    });
    let h323 = calls.iter().find(|c| c["transport"] == "h323").unwrap();
    let video = &h323["media"]["video"];
    common::assert_starts_with(video, "codec", "H263/90000 pt 34");
    assert_eq!(video["to_meeting"], "transcoded to H264 352x288", "{video}");
    common::assert_starts_with(video, "from_meeting", "H263 ");
    assert_eq!(video["camera_decode_errors"], 0, "{video}");

    hang_up(&mra, &mut room, &mut caller);
    println!(
        "the SIP room sees {sip_sees:?}, the H.263 room {h323_sees:?} ({} packets); video {video}",
        camera.received()
    );
}
