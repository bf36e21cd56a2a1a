//! Any bytes as an H.245 message to a session with audio and video:
//! answered or ignored, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use media_api::{AudioCodec, BoundStream, StreamKind};
use signaling::h323::capabilities::OurVideo;
use signaling::h323::h245::H245Session;

fuzz_target!(|data: &[u8]| {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 40000));
    let video = BoundStream {
        kind: StreamKind::Video,
        rtp: addr,
        rtcp: addr,
        dtls_fingerprint: None,
    };
    let ours = OurVideo {
        kbps: 1000,
        h263: true,
    };
    let mut session =
        H245Session::new(vec![AudioCodec::Pcmu], addr, addr, 1).with_video(video, ours);
    let _ = session.receive(data);
});
