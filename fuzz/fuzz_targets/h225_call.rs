//! A TCP byte stream into TPKT framing, Q.931 parsing and the H.225.0
//! call: nothing may panic, whatever arrives.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signaling::h323::h225_call::H225Call;
use signaling::h323::tpkt::TpktReader;

fuzz_target!(|data: &[u8]| {
    let mut reader = TpktReader::default();
    reader.push(data);
    let mut call = H225Call::new();
    while let Ok(Some(packet)) = reader.next_packet() {
        let _ = call.receive(&packet);
    }
});
