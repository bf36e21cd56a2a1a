//! Any body as a room's SDP offer and as its answer to ours; what is
//! negotiated (audio and video) must render back into an answer that
//! reads back with the same streams. Keys may be taken (as over TLS), so
//! the `a=crypto` lines are read too, and DTLS-SRTP's `a=fingerprint` and
//! `a=setup`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signaling::sdp::{self, Addresses, Codecs, Encryption, Keying, SdpSession};

fuzz_target!(|data: &[u8]| {
    let codecs = Codecs::all(4000);
    let keying = || Keying::new(true, Encryption::Optional);
    if let Ok(n) = sdp::negotiate(data, &codecs, &mut keying()) {
        let local = Addresses {
            audio: "192.0.2.1:40000".parse().expect("literal"),
            video: Some("192.0.2.1:40002".parse().expect("literal")),
            // Answers to DTLS-SRTP offers carry a fingerprint.
            dtls_fingerprint: Some([0xAB; 32]),
        };
        let answer = sdp::render_answer(&n, local, SdpSession { id: 1, version: 1 });
        let read = sdp::read_answer(answer.as_bytes(), &codecs, &mut keying());
        assert!(
            read.is_ok_and(|m| m.streams.len() == n.media(true).streams.len()),
            "{answer}"
        );
    }
    let _ = sdp::read_answer(data, &codecs, &mut keying());
});
