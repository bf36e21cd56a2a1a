//! Offer/answer tests, with the offers real rooms send.

use super::*;
use media_api::{Crypto, Format, SrtpSuite, VideoCodec};

/// Offer/answer as over clear signaling with the default policy.
fn negotiate(offer: &[u8], codecs: &Codecs) -> Result<Negotiated, SdpError> {
    super::negotiate(offer, codecs, &mut Keying::new(false, Encryption::Optional))
}

fn read_answer(answer: &[u8], codecs: &Codecs) -> Result<LegMedia, SdpError> {
    super::read_answer(
        answer,
        codecs,
        &mut Keying::new(false, Encryption::Optional),
    )
}

fn audio_only() -> Codecs {
    Codecs {
        video: None,
        ..Codecs::all(0)
    }
}

fn with_video() -> Codecs {
    Codecs::all(4000)
}

fn at(audio: &str) -> Addresses {
    Addresses {
        audio: audio.parse().unwrap(),
        video: None,
        dtls_fingerprint: Some([0xAB; 32]),
    }
}

fn codec(n: &Negotiated) -> AudioCodec {
    n.audio.audio().unwrap().codec
}

#[test]
fn rtcp_address_and_bandwidth_are_read() {
    let o = offer("m=audio 4000 RTP/AVP 0\r\nb=AS:64\r\na=rtcp:4005 IN IP4 192.0.2.11\r\n");
    let n = negotiate(o.as_bytes(), &audio_only()).unwrap();
    assert_eq!(
        n.audio.remote_rtcp,
        Some("192.0.2.11:4005".parse().unwrap())
    );
    assert_eq!(n.audio.bandwidth_kbps, Some(64));
    let o = offer("m=audio 4000 RTP/AVP 0\r\n");
    let n = negotiate(o.as_bytes(), &audio_only()).unwrap();
    assert_eq!(
        n.audio.remote_rtcp,
        Some("192.0.2.10:4001".parse().unwrap())
    );
    assert_eq!(n.audio.bandwidth_kbps, None);
}

fn offer(media: &str) -> String {
    format!("v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n{media}")
}

#[test]
fn picks_first_offered_supported_codec_and_keeps_dtmf() {
    let o = offer("m=audio 4000 RTP/AVP 18 8 0 101\r\na=rtpmap:18 G729/8000\r\na=rtpmap:101 telephone-event/8000\r\na=ptime:30\r\na=rtcp-mux\r\nm=video 4002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n");
    let n = negotiate(o.as_bytes(), &audio_only()).unwrap();
    let audio = n.audio.audio().unwrap();
    assert_eq!(audio.codec, AudioCodec::Pcma);
    assert_eq!(n.audio.payload_type, 8);
    assert_eq!(audio.dtmf_payload_type, Some(101));
    assert_eq!(audio.ptime, 30);
    assert!(n.audio.rtcp_mux);
    assert_eq!(n.audio.remote_rtp, Some("192.0.2.10:4000".parse().unwrap()));
    let text = render_answer(&n, at("127.0.0.1:40000"), SdpSession { id: 7, version: 1 });
    assert!(text.contains("m=audio 40000 RTP/AVP 8 101\r\n"), "{text}");
    assert!(text.contains("m=video 0 RTP/AVP 96\r\n"), "{text}");
    assert!(
        text.contains("a=rtcp-mux") && text.contains("a=sendrecv") && text.contains("a=ptime:30")
    );
    // Our answer parses back.
    assert_eq!(
        read_answer(text.as_bytes(), &audio_only())
            .unwrap()
            .audio()
            .unwrap()
            .1
            .codec,
        AudioCodec::Pcma
    );
}

#[test]
fn opus_and_g722_by_rtpmap() {
    let o = offer("m=audio 4000 RTP/AVP 111 9\r\na=rtpmap:111 opus/48000/2\r\n");
    assert_eq!(
        codec(&negotiate(o.as_bytes(), &audio_only()).unwrap()),
        AudioCodec::Opus
    );
    let o = offer("m=audio 4000 RTP/AVP 9 0\r\n");
    assert_eq!(
        codec(&negotiate(o.as_bytes(), &audio_only()).unwrap()),
        AudioCodec::G722
    );
}

#[test]
fn hold_directions_are_mirrored() {
    let n = negotiate(
        offer("m=audio 4000 RTP/AVP 0\r\na=sendonly\r\n").as_bytes(),
        &audio_only(),
    )
    .unwrap();
    assert_eq!(n.audio.direction, Direction::RecvOnly);
    let o = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
    let n = negotiate(o.as_bytes(), &audio_only()).unwrap();
    assert_eq!(n.audio.direction, Direction::RecvOnly);
    assert_eq!(n.audio.remote_rtp, None);
    let n = negotiate(
        offer("m=audio 4000 RTP/AVP 0\r\na=inactive\r\n").as_bytes(),
        &audio_only(),
    )
    .unwrap();
    assert_eq!(n.audio.direction, Direction::Inactive);
}

#[test]
fn refusals() {
    let err = negotiate(
        offer("m=audio 4000 RTP/AVP 18\r\n").as_bytes(),
        &audio_only(),
    )
    .unwrap_err();
    assert!(matches!(err, SdpError::NoCommonCodec(_)));
    assert_eq!(err.warn_code(), 305);
    assert_eq!(
        negotiate(
            offer("m=video 4000 RTP/AVP 96\r\n").as_bytes(),
            &audio_only()
        ),
        Err(SdpError::NoAudio)
    );
    assert!(matches!(
        negotiate(b"garbage", &audio_only()),
        Err(SdpError::Malformed(_))
    ));
}

#[test]
fn our_offer_lists_every_codec() {
    let text = render_offer(
        &audio_only(),
        at("127.0.0.1:40002"),
        Direction::SendRecv,
        SdpSession { id: 1, version: 1 },
        &mut Keying::new(false, Encryption::Optional),
    );
    assert!(
        text.contains("m=audio 40002 RTP/AVP 111 9 0 8 101"),
        "{text}"
    );
}

/// Poly RealPresence Group (pion/sdp PR #150): session `b=AS`, High
/// profile mode 1, baseline without a mode (mode 0) and in mode 1, each
/// with `max-br`/`sar`, vendor formats, and a content line.
const POLY_GROUP: &str = "v=0\r\no=GroupSeries 1 1 IN IP4 192.0.2.20\r\ns=-\r\nc=IN IP4 192.0.2.20\r\nb=AS:2048\r\nt=0 0\r\n\
m=audio 49152 RTP/AVP 115 102 9 15 0 8 18 101\r\na=rtpmap:115 G7221/32000\r\na=fmtp:115 bitrate=48000\r\na=rtpmap:102 G7221/16000\r\na=rtpmap:9 G722/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n\
m=video 49154 RTP/AVP 109 110 111 96 97 34 31\r\nb=TIAS:1920000\r\na=rtpmap:109 H264/90000\r\na=fmtp:109 profile-level-id=64001f;packetization-mode=1;max-br=20010;sar=13\r\na=rtpmap:110 H264/90000\r\na=fmtp:110 profile-level-id=42801f;max-br=20010;sar=13\r\na=rtpmap:111 H264/90000\r\na=fmtp:111 profile-level-id=42801f;packetization-mode=1;max-br=20010;sar=13\r\na=rtpmap:96 vnd.polycom.lpr/9000\r\na=rtpmap:97 H264-SVC/90000\r\na=rtpmap:34 H263/90000\r\na=rtpmap:31 H261/90000\r\na=rtcp-fb:* nack pli\r\na=rtcp-fb:* ccm fir\r\na=rtcp-fb:* ccm tmmbr\r\na=sendrecv\r\n\
m=application 49156 RTP/AVP 100\r\na=rtpmap:100 H224/4800\r\na=sendrecv\r\n\
m=video 49158 RTP/AVP 109\r\na=rtpmap:109 H264/90000\r\na=content:slides\r\na=sendrecv\r\n";

/// Poly Studio X30 (vopenia-io/livekit-sip test data): `b=TIAS`, LPR and
/// H.265 first, feedback only `ccm tmmbr`/`ccm fir`, `"; "` separators.
const POLY_STUDIO_X30: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.30\r\ns=-\r\nc=IN IP4 192.0.2.30\r\nb=TIAS:4096000\r\nt=0 0\r\n\
m=audio 2226 RTP/AVP 9 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n\
m=video 2228 RTP/AVP 96 98 99 100 101\r\nb=TIAS:4032000\r\na=rtpmap:96 vnd.polycom.lpr/9000\r\na=rtpmap:98 H265/90000\r\na=rtpmap:99 H264/90000\r\na=fmtp:99 profile-level-id=428020; max-mbps=490000; max-fs=8192\r\na=rtpmap:100 H264/90000\r\na=fmtp:100 profile-level-id=428020; packetization-mode=1; max-mbps=490000; max-fs=8192\r\na=rtpmap:101 H264/90000\r\na=fmtp:101 profile-level-id=640020; packetization-mode=1; max-mbps=490000; max-fs=8192\r\na=rtcp-fb:* ccm tmmbr\r\na=rtcp-fb:* ccm fir\r\na=sendrecv\r\n";

/// A Cisco room (same test data): mode 0 on 97 and mode 1 on 126 at level
/// 2.2 with a large `max-fs`, `b=TIAS`, a slides line.
const CISCO: &str = "v=0\r\no=tandberg 1 1 IN IP4 192.0.2.40\r\ns=-\r\nc=IN IP4 192.0.2.40\r\nb=AS:6000\r\nt=0 0\r\n\
m=audio 16400 RTP/AVP 108 8 0 101\r\nb=TIAS:64000\r\na=rtpmap:108 MP4A-LATM/90000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n\
m=video 16402 RTP/AVP 97 126\r\nb=TIAS:6000000\r\na=rtpmap:97 H264/90000\r\na=fmtp:97 profile-level-id=428016;max-mbps=490000;max-fs=8160;max-cpb=200;max-dpb=16320;max-fps=6000\r\na=rtpmap:126 H264/90000\r\na=fmtp:126 profile-level-id=428016;packetization-mode=1;max-mbps=490000;max-fs=8160;max-cpb=200;max-dpb=16320;max-fps=6000\r\na=rtcp-fb:* nack pli\r\na=rtcp-fb:* ccm fir\r\na=rtcp-fb:* ccm tmmbr\r\na=rtcp-fb:* ccm pan\r\na=sendrecv\r\n\
m=video 16404 RTP/AVP 97\r\nb=TIAS:6000000\r\na=rtpmap:97 H264/90000\r\na=fmtp:97 profile-level-id=428016;max-fs=32400\r\na=content:slides\r\na=label:12\r\na=sendrecv\r\n";

fn video_of(n: &Negotiated) -> (&StreamMedia, media_api::VideoFormat) {
    let v = n.video.as_ref().expect("video negotiated");
    match &v.format {
        Format::Video(f) => (v, *f),
        Format::Audio(_) => panic!("not video"),
    }
}

fn answer_with_video(n: &Negotiated) -> String {
    let local = Addresses {
        audio: "127.0.0.1:40000".parse().unwrap(),
        video: Some("127.0.0.1:40002".parse().unwrap()),
        dtls_fingerprint: Some([0xAB; 32]),
    };
    render_answer(n, local, SdpSession { id: 7, version: 1 })
}

#[test]
fn poly_group_gets_baseline_mode_1_and_its_vendor_lines_declined() {
    let n = negotiate(POLY_GROUP.as_bytes(), &with_video()).unwrap();
    let (stream, v) = video_of(&n);
    assert_eq!(stream.payload_type, 111);
    assert_eq!((v.codec, v.packetization_mode), (VideoCodec::H264, 1));
    assert_eq!(v.profile_level_id, Some([0x42, 0x80, 0x1f]));
    assert!(v.browsers_decode());
    assert!(v.feedback.pli && v.feedback.fir && v.feedback.tmmbr && !v.feedback.nack);
    // Every H.264 format it offered is taken; LPR, SVC, H.263 are not.
    for pt in [109, 110, 111] {
        assert!(v.accepted.contains(pt));
    }
    assert!(!v.accepted.contains(96) && !v.accepted.contains(97));
    assert_eq!(stream.bandwidth_kbps, Some(1920));
    assert_eq!(v.limits.max_fs, 3600); // level 3.1
    assert_eq!(v.limits.max_kbps, Some(20010));
    let text = answer_with_video(&n);
    assert!(text.contains("m=video 40002 RTP/AVP 111\r\n"), "{text}");
    assert!(
        text.contains(
            "a=fmtp:111 profile-level-id=42801f;packetization-mode=1;max-fs=8160;max-mbps=244800"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "a=rtcp-fb:111 nack pli\r\na=rtcp-fb:111 ccm fir\r\na=rtcp-fb:111 ccm tmmbr\r\n"
        ),
        "{text}"
    );
    assert!(
        !text.contains("goog-remb") && !text.contains("lpr"),
        "{text}"
    );
    assert!(text.contains("b=AS:1920\r\nb=TIAS:1920000\r\n"), "{text}");
    assert!(text.contains("m=application 0 RTP/AVP 100\r\n"), "{text}");
    assert!(text.contains("m=video 0 RTP/AVP 109\r\n"), "{text}"); // the slides line
    assert!(text.contains("a=sendrecv"), "{text}");
}

#[test]
fn poly_studio_x30_feedback_is_fir_and_tmmbr_only() {
    let n = negotiate(POLY_STUDIO_X30.as_bytes(), &with_video()).unwrap();
    let (stream, v) = video_of(&n);
    assert_eq!(stream.payload_type, 100);
    assert_eq!(v.packetization_mode, 1);
    assert_eq!(v.limits.max_fs, 8192);
    assert_eq!(v.limits.max_mbps, 490_000); // above level 3.2's 216000
    assert!(!v.feedback.pli && v.feedback.fir && v.feedback.tmmbr);
    assert_eq!(
        v.feedback.keyframe_request(),
        media_api::KeyframeRequest::Fir
    );
    assert_eq!(stream.bandwidth_kbps, Some(4000)); // our maximum
    let mode = v.send_mode(stream.bandwidth_kbps.unwrap());
    assert_eq!((mode.width, mode.height), (1920, 1080));
}

#[test]
fn cisco_level_2_2_with_max_fs_is_sent_1080p_in_mode_1() {
    let n = negotiate(CISCO.as_bytes(), &with_video()).unwrap();
    let (stream, v) = video_of(&n);
    assert_eq!(stream.payload_type, 126);
    assert!(v.accepted.contains(97) && v.accepted.contains(126));
    assert_eq!(v.limits.max_fs, 8160);
    assert_eq!(v.limits.max_fps, Some(60));
    let mode = v.send_mode(stream.bandwidth_kbps.unwrap());
    assert_eq!((mode.width, mode.height, mode.fps), (1920, 1080, 30));
    let text = answer_with_video(&n);
    // The audio line is answered, the slides line declined in its place.
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("m=")).collect();
    assert_eq!(
        lines,
        [
            "m=audio 40000 RTP/AVP 8 101",
            "m=video 40002 RTP/AVP 126",
            "m=video 0 RTP/AVP 97"
        ]
    );
}

#[test]
fn a_vp8_only_room_gets_vp8() {
    let o = offer("m=audio 4000 RTP/AVP 0\r\nm=video 4002 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack pli\r\na=rtcp-fb:96 goog-remb\r\n");
    let n = negotiate(o.as_bytes(), &with_video()).unwrap();
    let (stream, v) = video_of(&n);
    assert_eq!((stream.payload_type, v.codec), (96, VideoCodec::Vp8));
    assert!(v.feedback.remb && v.feedback.pli);
    let text = answer_with_video(&n);
    assert!(
        text.contains("a=rtpmap:96 VP8/90000\r\na=fmtp:96 max-fs=8160;max-fr=30"),
        "{text}"
    );
    assert!(text.contains("a=rtcp-fb:96 goog-remb"), "{text}");
}

#[test]
fn video_is_declined_without_a_bound_stream_or_a_common_codec() {
    let n = negotiate(POLY_GROUP.as_bytes(), &with_video()).unwrap();
    let text = render_answer(&n, at("127.0.0.1:40000"), SdpSession { id: 7, version: 1 });
    assert!(text.contains("m=video 0 RTP/AVP 111\r\n"), "{text}");
    assert_eq!(n.media(false).streams.len(), 1);
    assert_eq!(n.media(true).streams.len(), 2);
    let o =
        offer("m=audio 4000 RTP/AVP 0\r\nm=video 4002 RTP/AVP 31\r\na=rtpmap:31 H261/90000\r\n");
    let n = negotiate(o.as_bytes(), &with_video()).unwrap();
    assert!(n.video.is_none());
}

/// An older room with H.263 only (baresip's avcodec offers this shape;
/// the static payload type needs no rtpmap): its largest format and MPI
/// decide the picture it is sent.
#[test]
fn an_h263_room_is_answered_in_h263_and_sent_its_largest_format() {
    let o = offer(
        "m=audio 4000 RTP/AVP 0\r\nm=video 4002 RTP/AVP 34\r\na=fmtp:34 CIF=1;CIF4=2;QCIF=1\r\n",
    );
    let n = negotiate(o.as_bytes(), &with_video()).unwrap();
    let (stream, v) = video_of(&n);
    assert_eq!((stream.payload_type, v.codec), (34, VideoCodec::H263));
    assert!(!v.browsers_decode(), "transcoded for the meeting");
    assert_eq!(v.published_codec(), VideoCodec::H264);
    assert_eq!((v.limits.max_fs, v.limits.max_mbps), (1584, 1584 * 15));
    let mode = v.send_mode(1000);
    assert_eq!((mode.width, mode.height, mode.fps), (704, 576, 15));
    let mode = v.send_mode(384);
    assert_eq!((mode.width, mode.height, mode.fps), (352, 288, 30));
    let text = answer_with_video(&n);
    assert!(text.contains("m=video 40002 RTP/AVP 34\r\n"), "{text}");
    assert!(text.contains("a=rtpmap:34 H263/90000\r\n"), "{text}");
    assert!(
        text.contains("a=fmtp:34 CIF4=1;CIF=1;QCIF=1;SQCIF=1\r\n"),
        "{text}"
    );
    // Without picture formats: QCIF and CIF.
    let o =
        offer("m=audio 4000 RTP/AVP 0\r\nm=video 4002 RTP/AVP 34\r\na=rtpmap:34 H263/90000\r\n");
    let n = negotiate(o.as_bytes(), &with_video()).unwrap();
    let (_, v) = video_of(&n);
    assert_eq!(v.send_mode(4000).height, 288);
}

/// A room offering H.264 and H.263 gets H.264; a packet on its H.263
/// payload type is not read as H.264.
#[test]
fn h264_is_preferred_and_only_its_payload_types_are_accepted() {
    let n = negotiate(POLY_GROUP.as_bytes(), &with_video()).unwrap();
    let (_, v) = video_of(&n);
    assert_eq!(v.codec, VideoCodec::H264);
    assert!(!v.accepted.contains(34));
}

#[test]
fn our_offer_carries_video_with_max_fs() {
    let local = Addresses {
        audio: "127.0.0.1:40000".parse().unwrap(),
        video: Some("127.0.0.1:40002".parse().unwrap()),
        dtls_fingerprint: Some([0xAB; 32]),
    };
    let text = render_offer(
        &with_video(),
        local,
        Direction::SendRecv,
        SdpSession { id: 1, version: 1 },
        &mut Keying::new(false, Encryption::Optional),
    );
    assert!(
        text.contains("m=video 40002 RTP/AVP 97 98 100 34\r\n"),
        "{text}"
    );
    assert!(text.contains("a=fmtp:97 profile-level-id=42e028;packetization-mode=1;max-fs=8160;max-mbps=244800;max-br=4000"), "{text}");
    assert!(
        text.contains("a=fmtp:98 profile-level-id=42e028;packetization-mode=0;"),
        "{text}"
    );
    assert!(text.contains("b=TIAS:4000000"), "{text}");
    // The room's answer reads back, with video.
    // (the room only sends its camera: the last line, video's, says so)
    let at = text.rfind("a=sendrecv").unwrap();
    let answer = format!("{}a=sendonly{}", &text[..at], &text[at + 10..]);
    let media = read_answer(answer.as_bytes(), &with_video()).unwrap();
    let (stream, v) = media.video().unwrap();
    assert_eq!((stream.payload_type, v.packetization_mode), (97, 1));
    assert_eq!(stream.direction, Direction::RecvOnly);
}

/// A Poly-style SRTP offer: two suites, the first with an MKI and a
/// lifetime, the 32-bit one second.
const SAVP: &str = "m=audio 4000 RTP/SAVP 0\r\n\
    a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4\r\n\
    a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj\r\n";

#[test]
fn sdes_over_tls_is_answered_with_our_key_under_the_rooms_tag_and_profile() {
    let mut keying = Keying::new(true, Encryption::Optional);
    let n = super::negotiate(offer(SAVP).as_bytes(), &audio_only(), &mut keying).unwrap();
    let Some(Crypto::Sdes {
        suite,
        ours,
        theirs,
    }) = n.audio.crypto.clone()
    else {
        panic!("no crypto: {:?}", n.audio);
    };
    assert_eq!(suite, SrtpSuite::AesCm128HmacSha1_80);
    assert_eq!((theirs.key_salt.len(), theirs.mki_len), (30, 4));
    assert_eq!((ours.key_salt.len(), ours.mki_len), (30, 0));
    let answer = render_answer(&n, at("192.0.2.1:40000"), SdpSession { id: 1, version: 1 });
    assert!(answer.contains("m=audio 40000 RTP/SAVP 0"), "{answer}");
    assert!(
        answer.contains("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"),
        "{answer}"
    );
    // A re-offer keeps our key.
    let again = super::negotiate(offer(SAVP).as_bytes(), &audio_only(), &mut keying).unwrap();
    assert_eq!(again.audio.crypto, n.audio.crypto);
}

#[test]
fn sdes_keys_are_refused_over_clear_signaling_and_best_effort_falls_back_to_clear() {
    let e = negotiate(offer(SAVP).as_bytes(), &audio_only()).unwrap_err();
    assert!(e.to_string().contains("over TLS only"), "{e}");
    assert_eq!(e.warn_code(), 306);
    let best_effort = SAVP.replace("RTP/SAVP", "RTP/AVP");
    let n = negotiate(offer(&best_effort).as_bytes(), &audio_only()).unwrap();
    assert_eq!(n.audio.crypto, None);
    let answer = render_answer(&n, at("192.0.2.1:40000"), SdpSession { id: 1, version: 1 });
    assert!(
        answer.contains("RTP/AVP") && !answer.contains("crypto"),
        "{answer}"
    );
}

#[test]
fn bad_keys_and_unknown_suites_are_named_in_the_refusal() {
    let mut keying = Keying::new(true, Encryption::Optional);
    let bad = offer("m=audio 4000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:c2hvcnQ=\r\na=crypto:2 F8_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n");
    let e = super::negotiate(bad.as_bytes(), &audio_only(), &mut keying).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("AES_CM_128_HMAC_SHA1_80: key and salt of 5 bytes, not 30"),
        "{text}"
    );
    assert!(text.contains("unknown suite F8_128_HMAC_SHA1_80"), "{text}");
}

#[test]
fn a_required_policy_refuses_clear_audio_and_declines_clear_video() {
    let mut keying = Keying::new(true, Encryption::Required);
    let clear = offer("m=audio 4000 RTP/AVP 0\r\n");
    let e = super::negotiate(clear.as_bytes(), &audio_only(), &mut keying).unwrap_err();
    assert_eq!(e, SdpError::EncryptionRequired);
    let mixed = format!("{SAVP}m=video 4002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n");
    let n = super::negotiate(offer(&mixed).as_bytes(), &with_video(), &mut keying).unwrap();
    assert!(n.audio.crypto.is_some() && n.video.is_none());
    let off = Keying::new(true, Encryption::Off);
    assert!(super::negotiate(offer(SAVP).as_bytes(), &audio_only(), &mut off.clone()).is_err());
}

/// baresip's `dtls_srtp` offer: setup and fingerprint on the session.
fn dtls_offer(setup: &str, fingerprint: &str) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\n\
         a=setup:{setup}\r\na=fingerprint:{fingerprint}\r\n\
         m=audio 4000 UDP/TLS/RTP/SAVPF 0\r\na=rtpmap:0 PCMU/8000\r\n"
    )
}

const THEIR_PRINT: &str = "SHA-256 5B:37:43:6B:A6:71:24:B6:D5:0B:1A:0B:42:0D:6A:A4:0F:AE:AB:14:8E:3E:7B:9F:CB:F2:B4:37:AB:4A:0E:AE";

#[test]
fn dtls_srtp_is_answered_passive_with_our_fingerprint_over_any_signaling() {
    // Clear signaling, encryption required: DTLS keys never cross it.
    let mut keying = Keying::new(false, Encryption::Required);
    let offer = dtls_offer("actpass", THEIR_PRINT);
    let n = super::negotiate(offer.as_bytes(), &audio_only(), &mut keying).unwrap();
    assert_eq!(
        n.audio.crypto,
        Some(Crypto::Dtls {
            role: media_api::DtlsRole::Server,
            fingerprint: format!("sha-256 {}", &THEIR_PRINT[8..]),
        })
    );
    let answer = render_answer(&n, at("192.0.2.1:40000"), SdpSession { id: 1, version: 1 });
    assert!(
        answer.contains("m=audio 40000 UDP/TLS/RTP/SAVPF 0"),
        "{answer}"
    );
    assert!(answer.contains("a=setup:passive"), "{answer}");
    let ours = format!("a=fingerprint:sha-256 {}", ["AB"; 32].join(":"));
    assert!(answer.contains(&ours), "{answer}");
    // A room that will only listen makes us connect.
    let offer = dtls_offer("passive", THEIR_PRINT);
    let n = super::negotiate(offer.as_bytes(), &audio_only(), &mut keying).unwrap();
    let answer = render_answer(&n, at("192.0.2.1:40000"), SdpSession { id: 1, version: 2 });
    assert!(answer.contains("a=setup:active"), "{answer}");
}

#[test]
fn dtls_offers_that_cannot_be_taken_are_refused_naming_why() {
    let refused = |offer: String, policy| {
        let mut keying = Keying::new(false, policy);
        super::negotiate(offer.as_bytes(), &audio_only(), &mut keying)
            .unwrap_err()
            .to_string()
    };
    let short = refused(dtls_offer("actpass", "sha-256 AB:CD"), Encryption::Optional);
    assert!(short.contains("not a sha-256 digest"), "{short}");
    let md5 = refused(dtls_offer("actpass", "md5 AB:CD"), Encryption::Optional);
    assert!(md5.contains("md5"), "{md5}");
    let hold = refused(dtls_offer("holdconn", THEIR_PRINT), Encryption::Optional);
    assert!(hold.contains("holdconn"), "{hold}");
    let off = refused(dtls_offer("actpass", THEIR_PRINT), Encryption::Off);
    assert!(off.contains("turned off"), "{off}");
}

#[test]
fn an_encrypted_call_is_not_re_offered_into_clear_but_may_be_re_keyed() {
    let mut keying = Keying::new(true, Encryption::Optional);
    let first = super::negotiate(offer(SAVP).as_bytes(), &audio_only(), &mut keying).unwrap();
    let clear = offer("m=audio 4000 RTP/AVP 0\r\n");
    let e = super::negotiate(clear.as_bytes(), &audio_only(), &mut keying).unwrap_err();
    assert!(e.to_string().contains("re-offer without SRTP"), "{e}");
    let rekeyed = SAVP.replace(
        "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4",
        "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNk",
    );
    let again = super::negotiate(offer(&rekeyed).as_bytes(), &audio_only(), &mut keying).unwrap();
    let (
        Some(Crypto::Sdes {
            ours: a,
            theirs: t1,
            ..
        }),
        Some(Crypto::Sdes {
            ours: b,
            theirs: t2,
            ..
        }),
    ) = (first.audio.crypto, again.audio.crypto)
    else {
        panic!("both encrypted");
    };
    assert_eq!(a, b, "our key stays");
    assert_ne!(t1, t2, "the room's new key is taken");
}

#[test]
fn our_offer_over_tls_carries_our_keys_and_the_answer_picks_one() {
    let mut keying = Keying::new(true, Encryption::Optional);
    let session = SdpSession { id: 1, version: 1 };
    let ours = render_offer(
        &audio_only(),
        at("192.0.2.1:40000"),
        Direction::SendRecv,
        session,
        &mut keying,
    );
    assert!(
        ours.contains("m=audio 40000 RTP/AVP "),
        "best effort: {ours}"
    );
    assert!(
        ours.contains("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"),
        "{ours}"
    );
    assert!(
        ours.contains("a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:"),
        "{ours}"
    );
    let offered_32 = ours
        .lines()
        .find_map(|l| l.strip_prefix("a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:"))
        .unwrap()
        .to_owned();
    let answer = offer("m=audio 5000 RTP/AVP 0\r\na=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNk\r\n");
    let media = super::read_answer(answer.as_bytes(), &audio_only(), &mut keying).unwrap();
    let Some(Crypto::Sdes {
        suite, ours: key, ..
    }) = media.streams[0].crypto.clone()
    else {
        panic!("the answer's key: {media:?}");
    };
    assert_eq!(suite, SrtpSuite::AesCm128HmacSha1_32);
    use base64::Engine;
    assert_eq!(
        base64::engine::general_purpose::STANDARD.encode(&key.key_salt),
        offered_32
    );
    // Required: SRTP alone; clear signaling or off: no keys at all.
    let mut required = Keying::new(true, Encryption::Required);
    let ours = render_offer(
        &audio_only(),
        at("192.0.2.1:40000"),
        Direction::SendRecv,
        session,
        &mut required,
    );
    assert!(ours.contains("m=audio 40000 RTP/SAVP "), "{ours}");
    let mut clear = Keying::new(false, Encryption::Optional);
    let ours = render_offer(
        &audio_only(),
        at("192.0.2.1:40000"),
        Direction::SendRecv,
        session,
        &mut clear,
    );
    assert!(
        !ours.contains("crypto") && ours.contains("RTP/AVP"),
        "{ours}"
    );
}
