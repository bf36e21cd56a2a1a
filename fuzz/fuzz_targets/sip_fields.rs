//! The hand-written readers of single SIP fields: dial strings (the
//! Request-URI a room dials), Authorization digest credentials, Contact
//! lists of a REGISTER, and name-addr/Via helpers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use registrar::digest::{Algorithm, Credentials};
use signaling::dialstring;
use signaling::sip::message::{display_name, name_addr_uri, parse_via};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let dial = dialstring::parse(text);
    if let Some(number) = &dial.number {
        assert!(
            !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()),
            "{number:?}"
        );
    }
    if let Some(c) = Credentials::parse(text) {
        let _ = c.verify(
            Algorithm::Md5,
            "0123456789abcdef0123456789abcdef",
            "REGISTER",
        );
    }
    let _ = registrar::contact::parse(&[text]);
    let _ = display_name(text);
    let _ = name_addr_uri(text);
    let _ = parse_via(text);
});
