//! Any datagram into the signalling core, over UDP and over TCP: lexer,
//! validator, transaction matching, stateless answers, and what the core
//! reads of a request (dial string, SDP offer, display name, Require,
//! Session-Expires, REGISTER). Nothing may panic; every output is drained.
#![no_main]

use std::time::Instant;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use signaling::core::{Core, CoreConfig, Input};
use signaling::sip::{Flow, Transport};

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let mut core = Core::new(CoreConfig::default());
    for (transport, conn) in [(Transport::Udp, 0), (Transport::Tcp, 1)] {
        let flow = Flow {
            transport,
            remote: "192.0.2.7:5060".parse().expect("literal"),
            local: "192.0.2.1:5060".parse().expect("literal"),
            conn,
        };
        let data = Bytes::copy_from_slice(data);
        core.handle(Input::Sip { data, flow }, now);
        while core.poll_output().is_some() {}
    }
});
