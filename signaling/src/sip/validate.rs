//! RFC 3261 well-formedness checks on a lexed message, before any
//! transaction or dialog sees it. Requests that fail get a precise
//! response (400 with a Warning, 505, 416); responses that fail are dropped.

use super::lexer::Lexed;
use super::message::{is_address, split_list, Message, StartLine};
use super::Method;

/// What to do with a message.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Well-formed: hand it to the transaction layer.
    Accept,
    /// A request to answer with this status and Warning text.
    Reject {
        code: u16,
        reason: &'static str,
        warning: String,
    },
    /// A malformed response: discard it.
    Drop(String),
}

const REQUIRED: [&str; 5] = ["Via", "From", "To", "Call-ID", "CSeq"];
const SINGLE: [&str; 6] = [
    "From",
    "To",
    "Call-ID",
    "CSeq",
    "Max-Forwards",
    "Content-Type",
];

/// Checks a lexed message.
pub fn check(lexed: &Lexed) -> Verdict {
    let m = &lexed.message;
    let problem = lexed
        .defect
        .clone()
        .map(|w| (400, "Bad Request", w))
        .or_else(|| problem(m));
    match (problem, m.is_request()) {
        (None, _) => Verdict::Accept,
        (Some((code, reason, warning)), true) => Verdict::Reject {
            code,
            reason,
            warning,
        },
        (Some((_, _, warning)), false) => Verdict::Drop(warning),
    }
}

type Problem = (u16, &'static str, String);

fn bad(text: impl Into<String>) -> Option<Problem> {
    Some((400, "Bad Request", text.into()))
}

fn problem(m: &Message) -> Option<Problem> {
    if m.version != "SIP/2.0" {
        return Some((
            505,
            "Version Not Supported",
            format!("Unsupported protocol version {}", m.version),
        ));
    }
    for name in REQUIRED {
        if m.header(name).is_none() {
            return bad(format!("Missing {name} header"));
        }
    }
    for name in SINGLE {
        let lines = m.all(name).count();
        let elements: usize = m.all(name).map(|v| split_list(v).count()).sum();
        if lines > 1 || (name != "Call-ID" && name != "CSeq" && elements > 1) {
            return bad(format!("Multiple values in single-valued {name} header"));
        }
    }
    let Some((seq, cseq_method)) = m.cseq() else {
        return bad("Malformed CSeq header");
    };
    if seq >= 1 << 31 {
        return bad("CSeq number out of range");
    }
    if let StartLine::Request { method, .. } = &m.start {
        if *method != cseq_method {
            return bad(format!(
                "CSeq method {cseq_method} does not match request method {method}"
            ));
        }
    }
    if let Some(mf) = m.header("Max-Forwards") {
        if mf.parse::<u8>().is_err() {
            return bad("Max-Forwards must be 0 to 255");
        }
    }
    if let Some(exp) = m.header("Expires") {
        if exp.parse::<u32>().is_err() {
            return bad("Expires out of range");
        }
    }
    for name in ["Via", "Contact"] {
        for line in m.all(name) {
            if line
                .split(',')
                .any(|e| e.trim().trim_matches(';').is_empty())
                && !(name == "Contact" && line == "*")
            {
                return bad(format!("Malformed {name} header"));
            }
        }
    }
    // Responses go by the top Via; the others are only echoed back, so any
    // transport token is fine there (RFC 4475 "transports").
    if m.top_via().is_none_or(|v| v.host.is_empty()) || !m.list("Via").skip(1).all(is_via_element) {
        return bad("Malformed Via header");
    }
    for name in ["From", "To"] {
        if !is_address(m.header(name).unwrap_or_default()) {
            return bad(format!("Malformed {name} header"));
        }
    }
    if let StartLine::Request { uri, method } = &m.start {
        return request_uri_problem(uri, method);
    }
    None
}

/// `SIP/2.0/<transport token> <host>[...]`, after the lexer tightened it.
fn is_via_element(via: &str) -> bool {
    let mut parts = via.splitn(3, '/');
    let (Some(name), Some(version), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let Some((transport, sent_by)) = rest.split_once(' ') else {
        return false;
    };
    name.eq_ignore_ascii_case("SIP")
        && version == "2.0"
        && !transport.is_empty()
        && transport
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(c))
        && !sent_by.trim().is_empty()
}

fn request_uri_problem(uri: &str, method: &Method) -> Option<Problem> {
    let scheme = uri
        .split(':')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match scheme.as_str() {
        "sip" | "sips" => {
            if rsip::Uri::try_from(uri).is_err() {
                return bad("Malformed Request-URI");
            }
            None
        }
        "tel" if *method != Method::Register => None,
        _ => Some((
            416,
            "Unsupported URI Scheme",
            format!("Request-URI scheme {scheme:?} is not supported"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::lexer::lex;

    fn verdict(raw: &str) -> Verdict {
        check(&lex(raw.replace('\n', "\r\n").as_bytes()).unwrap())
    }

    const OK_HEAD: &str = "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\nFrom: <sip:a@b>;tag=1\nTo: <sip:c@d>\nCall-ID: x\n";

    #[test]
    fn accepts_a_plain_request() {
        assert_eq!(
            verdict(&format!(
                "OPTIONS sip:c@d SIP/2.0\n{OK_HEAD}CSeq: 1 OPTIONS\n\n"
            )),
            Verdict::Accept
        );
    }

    #[test]
    fn rejects_method_mismatch_and_bad_version() {
        let v = verdict(&format!(
            "OPTIONS sip:c@d SIP/2.0\n{OK_HEAD}CSeq: 1 INVITE\n\n"
        ));
        assert!(matches!(v, Verdict::Reject { code: 400, .. }), "{v:?}");
        let v = verdict(&format!(
            "OPTIONS sip:c@d SIP/7.0\n{OK_HEAD}CSeq: 1 OPTIONS\n\n"
        ));
        assert!(matches!(v, Verdict::Reject { code: 505, .. }), "{v:?}");
        let v = verdict(&format!(
            "OPTIONS foo:c@d SIP/2.0\n{OK_HEAD}CSeq: 1 OPTIONS\n\n"
        ));
        assert!(matches!(v, Verdict::Reject { code: 416, .. }), "{v:?}");
    }

    #[test]
    fn drops_malformed_responses() {
        let v = verdict(&format!(
            "SIP/2.0 200 OK\n{OK_HEAD}CSeq: 99999999999 OPTIONS\n\n"
        ));
        assert!(matches!(v, Verdict::Drop(_)), "{v:?}");
    }
}
