//! Any bytes as an H.245 message: answered or ignored, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use media_api::AudioCodec;
use signaling::h323::h245::H245Session;

fuzz_target!(|data: &[u8]| {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 40000));
    let mut session = H245Session::new(vec![AudioCodec::Pcmu], addr, addr, 1);
    let _ = session.receive(data);
});
