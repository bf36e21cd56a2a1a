//! Any body as a room's SDP offer and as its answer to ours; what is
//! negotiated (audio and video) must render back into an answer that
//! reads back with the same streams.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signaling::sdp::{self, Addresses, Codecs, SdpSession};

fuzz_target!(|data: &[u8]| {
    let codecs = Codecs::all(4000);
    if let Ok(n) = sdp::negotiate(data, &codecs) {
        let local = Addresses {
            audio: "192.0.2.1:40000".parse().expect("literal"),
            video: Some("192.0.2.1:40002".parse().expect("literal")),
        };
        let answer = sdp::render_answer(&n, local, SdpSession { id: 1, version: 1 });
        let read = sdp::read_answer(answer.as_bytes(), &codecs);
        assert!(
            read.is_ok_and(|m| m.streams.len() == n.media(true).streams.len()),
            "{answer}"
        );
    }
    let _ = sdp::read_answer(data, &codecs);
});
