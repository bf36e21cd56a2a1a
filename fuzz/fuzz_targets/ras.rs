//! Any datagram through the RAS decoder and back out: what decodes must
//! encode again.
#![no_main]

use h323_asn1::h225::RasMessage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = h323_asn1::decode::<RasMessage>(data) {
        let _ = h323_asn1::encode(&message);
    }
});
