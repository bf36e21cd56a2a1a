//! Any body as a room's SDP offer and as its answer to ours; what is
//! negotiated must render back into an answer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use media_api::AudioCodec;
use signaling::sdp::{self, SdpSession};

const CODECS: [AudioCodec; 4] = [
    AudioCodec::Opus,
    AudioCodec::G722,
    AudioCodec::Pcmu,
    AudioCodec::Pcma,
];

fuzz_target!(|data: &[u8]| {
    if let Ok(n) = sdp::negotiate(data, &CODECS) {
        let local = "192.0.2.1:40000".parse().expect("literal");
        let answer = sdp::render_answer(&n, local, SdpSession { id: 1, version: 1 });
        assert!(
            sdp::read_answer(answer.as_bytes(), &CODECS).is_ok(),
            "{answer}"
        );
    }
    let _ = sdp::read_answer(data, &CODECS);
});
