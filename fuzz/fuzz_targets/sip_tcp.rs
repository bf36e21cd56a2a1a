//! A SIP TCP stream cut into arbitrary segments (the first byte chooses
//! the segment length): the framer must find the same messages whatever
//! the cuts, never read past Content-Length nor beyond its size limit, and
//! each message it hands up goes through the lexer and validator.
#![no_main]

use libfuzzer_sys::fuzz_target;
use signaling::sip::framing::{Frame, Framer};
use signaling::sip::{lexer, validate};

/// Frames `stream` pushed `segment` bytes at a time.
fn frames(stream: &[u8], segment: usize) -> (Vec<Vec<u8>>, bool) {
    let mut framer = Framer::new(4096);
    let mut out = Vec::new();
    for chunk in stream.chunks(segment.max(1)) {
        framer.push(chunk);
        loop {
            match framer.next_frame() {
                Ok(Some(Frame::Message(m))) => out.push(m.to_vec()),
                Ok(Some(Frame::Ping)) => out.push(Vec::new()),
                Ok(None) => break,
                Err(_) => return (out, true),
            }
        }
    }
    (out, false)
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, stream)) = data.split_first() else {
        return;
    };
    let (whole, whole_failed) = frames(stream, stream.len());
    let (cut, cut_failed) = frames(stream, usize::from(cut));
    if !whole_failed && !cut_failed {
        assert_eq!(whole, cut, "framing depends on how the stream was cut");
    }
    for message in &whole {
        assert!(message.len() <= 4096 + 2048, "a frame past the size limit");
        if let Ok(lexed) = lexer::lex(message) {
            let _ = validate::check(&lexed);
        }
    }
});
