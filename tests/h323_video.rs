//! H.323 video: a room the test scripts (its calls built with the same
//! H.225.0 code as a room's, its camera FFmpeg's libx264 and its screen
//! FFmpeg's decoder) proposes H.264 both ways in fast start, next to a
//! baresip SIP room whose camera is red. Each sees the other: baresip's
//! `snapshot_recv` shows the H.323 room's lime, FFmpeg decodes red from
//! what MRA sends the H.323 room. Keyframes are asked both ways with
//! H.245 videoFastUpdatePicture, tunnelled; tshark reads every H.225.0 and
//! H.245 message cleanly.

mod common;

use std::time::Duration;

use common::baresip::{Baresip, Source};
use common::clips::{clip, looks, GREEN, RED};
use common::h323_room::{H323Room, FROM_ROOM, TO_ROOM, VIDEO_PT};
use common::rtp_camera::RtpCamera;
use common::{isolate_network, Mra};
use h323_asn1::h245::{
    CommandMessage, LogicalChannelNumber, MiscellaneousCommand, MiscellaneousCommandType,
    MultimediaSystemControlMessage as H245,
};
use signaling::h323::q931::cause;

const PT: u8 = VIDEO_PT;

fn fast_update(channel: u16) -> H245 {
    H245::command(CommandMessage::miscellaneousCommand(
        MiscellaneousCommand::required(
            LogicalChannelNumber(channel),
            MiscellaneousCommandType::videoFastUpdatePicture(()),
        ),
    ))
}

#[test]
fn an_h323_room_and_a_sip_room_see_each_other() {
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

    let mut room = H323Room::connect(mra.h225);
    let mut camera = RtpCamera::new();
    let (mut caller, video_to) =
        room.video_call("123456789", "Video room", camera.rtp(), camera.rtcp());
    camera.start("lime", PT, video_to);

    let within = Duration::from_secs(30);
    let sip_sees = sip_room.received_colour(within, |rgb| looks(rgb, GREEN));
    // The H.323 room's screen asks for keyframes while it waits for one.
    let ask = h323_asn1::encode(&fast_update(TO_ROOM)).unwrap();
    let h323_sees = camera.received_colour(
        PT,
        within,
        |rgb| looks(rgb, RED),
        || room.send_q931(&caller.tunnel(ask.clone()).expect("tunnelling agreed")),
    );
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

    room.send_q931(&caller.release(
        cause::NORMAL_CLEARING,
        h323_asn1::h225::ReleaseCompleteReason::undefinedReason(()),
    ));
    mra.wait_calls("the H.323 call over", |c| c.len() == 1);
    assert_eq!(room.tshark_complaints(mra.h225, None), "");
    println!(
        "the SIP room sees {sip_sees:?}, the H.323 room {h323_sees:?} ({} packets); video {video}",
        camera.received()
    );
}
