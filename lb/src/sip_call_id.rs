//! The SIP Call-ID of a datagram, for Call-ID affinity: a small
//! self-contained scan of the header block (RFC 3261 7.3: names are
//! case-insensitive, `i` is the compact form, whitespace may surround the
//! colon; headers end at the first empty line). No full SIP parsing: what
//! is not SIP simply has no Call-ID.

/// The Call-ID value of `datagram`, trimmed; None when it has none.
pub fn call_id(datagram: &[u8]) -> Option<&[u8]> {
    let mut lines = datagram.split(|&b| b == b'\n');
    lines.next()?; // the request or status line
    for raw in lines {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.is_empty() {
            return None; // end of headers
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = trim(&line[..colon]);
        if name.eq_ignore_ascii_case(b"call-id") || name.eq_ignore_ascii_case(b"i") {
            let value = trim(&line[colon + 1..]);
            return (!value.is_empty()).then_some(value);
        }
    }
    None
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::call_id;

    #[test]
    fn full_and_compact_forms() {
        let invite = b"INVITE sip:1@gw SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCall-ID: abc@host\r\n\r\nv=0\r\n";
        assert_eq!(call_id(invite), Some(&b"abc@host"[..]));
        let compact = b"SIP/2.0 200 OK\r\nv: SIP/2.0/UDP h\r\ni  :   x y z \r\n\r\n";
        assert_eq!(call_id(compact), Some(&b"x y z"[..]));
        let lower = b"BYE sip:a SIP/2.0\ncall-id:q1\n\n";
        assert_eq!(call_id(lower), Some(&b"q1"[..]));
    }

    #[test]
    fn none_without_a_header_or_when_only_the_body_has_one() {
        assert_eq!(
            call_id(b"OPTIONS sip:a SIP/2.0\r\nTo: <sip:a>\r\n\r\n"),
            None
        );
        assert_eq!(
            call_id(b"MESSAGE sip:a SIP/2.0\r\n\r\nCall-ID: in-body\r\n"),
            None
        );
        assert_eq!(call_id(b"\x80\x00 rtp"), None);
        assert_eq!(call_id(b""), None);
        assert_eq!(
            call_id(b"INVITE sip:a SIP/2.0\r\nCall-ID:   \r\n\r\n"),
            None
        );
        // A name that merely ends in "i" is not the compact form.
        assert_eq!(
            call_id(b"X sip:a SIP/2.0\r\nX-Multi: 1\r\nAbi: 2\r\n\r\n"),
            None
        );
    }
}
