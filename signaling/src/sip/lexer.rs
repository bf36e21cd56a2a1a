//! Lexing raw bytes into a [`Message`]: start line, header lines unfolded
//! (RFC 3261 7.3.1), compact header names expanded, body framed by
//! Content-Length. Permissive by design: structural defects are recorded in
//! [`Lexed::defect`] so that validation can answer 400 with the headers it
//! could read; only bytes that are not SIP at all are refused.

use bytes::Bytes;

use super::message::{Header, Message, StartLine};
use super::Method;

/// Result of lexing one message.
#[derive(Debug)]
pub struct Lexed {
    pub message: Message,
    /// First structural problem found, phrased for a Warning header.
    pub defect: Option<String>,
}

/// The bytes are not a SIP message at all (drop silently).
#[derive(Debug, PartialEq, Eq)]
pub struct NotSip;

const COMPACT: [(&str, &str); 19] = [
    ("i", "Call-ID"),
    ("m", "Contact"),
    ("e", "Content-Encoding"),
    ("l", "Content-Length"),
    ("c", "Content-Type"),
    ("f", "From"),
    ("s", "Subject"),
    ("k", "Supported"),
    ("t", "To"),
    ("v", "Via"),
    ("r", "Refer-To"),
    ("b", "Referred-By"),
    ("o", "Event"),
    ("u", "Allow-Events"),
    ("x", "Session-Expires"),
    ("y", "Identity"),
    ("a", "Accept-Contact"),
    ("j", "Reject-Contact"),
    ("d", "Request-Disposition"),
];

const CANONICAL: [&str; 24] = [
    "Via",
    "From",
    "To",
    "Call-ID",
    "CSeq",
    "Contact",
    "Max-Forwards",
    "Content-Length",
    "Content-Type",
    "Expires",
    "Allow",
    "Supported",
    "Require",
    "Proxy-Require",
    "Accept",
    "Session-Expires",
    "Min-SE",
    "Record-Route",
    "Route",
    "User-Agent",
    "Reason",
    "Warning",
    "Unsupported",
    "Timestamp",
];

/// Headers whose separators (`/ ; = ,`) may carry linear white space
/// (RFC 3261 25.1: SLASH, SEMI, EQUAL, COMMA are `SWS x SWS`).
const STRUCTURED: [&str; 7] = [
    "Via",
    "From",
    "To",
    "Contact",
    "CSeq",
    "Route",
    "Record-Route",
];

/// Drops white space around separators and collapses other runs of it to one
/// space, outside quoted strings: `SIP / 2.0 /UDP  h ; branch = x` becomes
/// `SIP/2.0/UDP h;branch=x`.
fn tighten(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let (mut quoted, mut escaped, mut pending_space) = (false, false, false);
    for c in value.chars() {
        if quoted {
            out.push(c);
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => quoted = false,
                _ => {}
            }
            continue;
        }
        match c {
            ' ' | '\t' => pending_space = true,
            '/' | ';' | '=' | ',' => {
                while out.ends_with(' ') {
                    out.pop();
                }
                out.push(c);
                pending_space = false;
            }
            _ => {
                let after_separator = out.ends_with(['/', ';', '=', ',']);
                if pending_space && !out.is_empty() && !after_separator {
                    out.push(' ');
                }
                pending_space = false;
                if c == '"' {
                    quoted = true;
                }
                out.push(c);
            }
        }
    }
    out
}

fn canonical_name(name: &str) -> String {
    if name.len() == 1 {
        if let Some((_, full)) = COMPACT.iter().find(|(c, _)| c.eq_ignore_ascii_case(name)) {
            return (*full).to_owned();
        }
    }
    CANONICAL
        .iter()
        .find(|c| c.eq_ignore_ascii_case(name))
        .map(|c| (*c).to_owned())
        .unwrap_or_else(|| name.to_owned())
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
}

/// Lexes one message. `datagram` is a whole UDP payload or one framed TCP message.
pub fn lex(datagram: &[u8]) -> Result<Lexed, NotSip> {
    let head_end = find(datagram, b"\r\n\r\n")
        .map(|p| (p, p + 4))
        .or_else(|| find(datagram, b"\n\n").map(|p| (p, p + 2)));
    let (head, rest) = match head_end {
        Some((end, body_start)) => (&datagram[..end], &datagram[body_start..]),
        None => (datagram, &datagram[datagram.len()..]),
    };
    let head = std::str::from_utf8(head).map_err(|_| NotSip)?;
    let mut lines = unfold(head).into_iter();
    let first = lines.next().ok_or(NotSip)?;
    let mut defect = None;
    let note = |defect: &mut Option<String>, text: String| {
        defect.get_or_insert(text);
    };

    let (start, version) = if first.starts_with("SIP/") {
        let mut parts = first.splitn(3, ' ');
        let version = parts.next().unwrap_or_default().to_owned();
        let code = parts
            .next()
            .and_then(|c| c.parse::<u16>().ok())
            .filter(|c| (100..=699).contains(c))
            .ok_or(NotSip)?;
        let reason = parts.next().unwrap_or("").to_owned();
        (StartLine::Response { code, reason }, version)
    } else {
        let parts: Vec<&str> = first.split_whitespace().collect();
        if parts.len() < 2
            || !is_token(parts[0])
            || !parts.last().is_some_and(|v| v.starts_with("SIP/"))
        {
            return Err(NotSip);
        }
        if parts.len() != 3 {
            note(
                &mut defect,
                "Malformed Request-Line (whitespace inside the Request-URI)".into(),
            );
        }
        let uri = parts[1..parts.len() - 1].join(" ");
        if uri.starts_with('<') {
            note(&mut defect, "Request-URI must not be enclosed in <>".into());
        }
        (
            StartLine::Request {
                method: Method::parse(parts[0]),
                uri,
            },
            parts[parts.len() - 1].to_owned(),
        )
    };

    let mut headers = Vec::new();
    for line in lines {
        match line.split_once(':') {
            Some((name, value)) if is_token(name.trim_end()) => {
                let name = canonical_name(name.trim_end());
                let value = if STRUCTURED.contains(&name.as_str()) {
                    tighten(value.trim())
                } else {
                    value.trim().to_owned()
                };
                headers.push(Header { name, value })
            }
            _ => note(&mut defect, format!("Malformed header line: {:.40}", line)),
        }
    }

    let mut message = Message {
        start,
        version,
        headers,
        body: Bytes::new(),
    };
    let lengths: Vec<&str> = message.all("Content-Length").collect();
    let body_len = match lengths.as_slice() {
        [] => rest.len(),
        [one] => match one.parse::<usize>() {
            Ok(n) if n <= rest.len() => n,
            Ok(n) => {
                note(
                    &mut defect,
                    format!(
                        "Content-Length {n} exceeds the {} body bytes received",
                        rest.len()
                    ),
                );
                rest.len()
            }
            Err(_) => {
                note(&mut defect, format!("Invalid Content-Length {one:?}"));
                rest.len()
            }
        },
        _ => {
            note(&mut defect, "Multiple Content-Length headers".into());
            rest.len()
        }
    };
    message.body = Bytes::copy_from_slice(&rest[..body_len]);
    Ok(Lexed { message, defect })
}

/// Splits header text into logical lines, joining continuation lines.
fn unfold(head: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for raw in head.split('\n') {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if raw.starts_with([' ', '\t']) && !lines.is_empty() {
            let last = lines.last_mut().expect("non-empty");
            last.push(' ');
            last.push_str(raw.trim_start());
        } else if lines.is_empty() && raw.is_empty() {
            // leading CRLFs before a message are ignored (RFC 3261 7.5)
        } else {
            lines.push(raw.to_owned());
        }
    }
    lines
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unfolds_and_expands_compact_names() {
        let raw = b"OPTIONS sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\nSubject: one\r\n  two\r\ni: abc\r\nl: 3\r\n\r\nxyzEXTRA";
        let lexed = lex(raw).unwrap();
        assert!(lexed.defect.is_none());
        let m = lexed.message;
        assert_eq!(m.header("Subject"), Some("one two"));
        assert_eq!(m.call_id(), Some("abc"));
        assert!(m.header("Via").is_some());
        assert_eq!(&m.body[..], b"xyz");
    }

    #[test]
    fn tightens_white_space_around_separators_outside_quotes() {
        assert_eq!(
            tighten("SIP  /   2.0 /UDP    192.0.2.2  ;branch = 390skdjuw"),
            "SIP/2.0/UDP 192.0.2.2;branch=390skdjuw"
        );
        assert_eq!(
            tighten(r#""J  Rosenberg \\\" ; x"   <sip:j@example.com> ; tag = 98"#),
            r#""J  Rosenberg \\\" ; x" <sip:j@example.com>;tag=98"#
        );
        assert_eq!(tighten("0009 INVITE"), "0009 INVITE");
    }

    #[test]
    fn records_defects_but_keeps_headers() {
        let raw = b"INVITE sip:a@b SIP/2.0\r\nCall-ID: x\r\nContent-Length: 99\r\n\r\nshort";
        let lexed = lex(raw).unwrap();
        assert!(lexed.defect.unwrap().contains("exceeds"));
        assert_eq!(lexed.message.call_id(), Some("x"));
    }

    #[test]
    fn refuses_non_sip() {
        assert_eq!(lex(b"\x16\x03\x01garbage").unwrap_err(), NotSip);
        assert_eq!(lex(b"GET / HTTP/1.1\r\n\r\n").unwrap_err(), NotSip);
        assert_eq!(lex(b"SIP/2.0 4294967301 Huge\r\n\r\n").unwrap_err(), NotSip);
    }
}
