//! Health-probe messages and how their answers are judged: a SIP OPTIONS
//! request (alive on any final response, RFC 3261 11 — even 403 or 503
//! means a SIP stack answered), an HTTP/1.1 request (alive on the expected
//! status, else any 2xx or 3xx).

use std::net::SocketAddr;

/// A SIP OPTIONS request from `local` to `target` over `transport`
/// (`UDP` or `TCP`); `seq` makes branch, tag and Call-ID unique.
pub fn sip_options(target: SocketAddr, local: SocketAddr, transport: &str, seq: u64) -> String {
    format!(
        "OPTIONS sip:{target} SIP/2.0\r\n\
         Via: SIP/2.0/{transport} {local};branch=z9hG4bK-mra-lb-{seq};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:mra-lb@{local}>;tag=lb{seq}\r\n\
         To: <sip:{target}>\r\n\
         Call-ID: mra-lb-{seq}@{local}\r\n\
         CSeq: 1 OPTIONS\r\n\
         User-Agent: mra-lb\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// A SIP response's status when it is final (≥ 200).
pub fn sip_final_status(bytes: &[u8]) -> Option<u16> {
    status(bytes, b"SIP/2.0 ").filter(|&s| s >= 200)
}

/// An HTTP/1.1 request that closes the connection after the answer.
pub fn http_request(method: &str, host: &str, path: &str) -> String {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: mra-lb\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    )
}

/// Whether an HTTP response's status line says alive.
pub fn http_alive(bytes: &[u8], expect: Option<u16>) -> Option<bool> {
    let line_end = bytes.iter().position(|&b| b == b'\n')?;
    let line = &bytes[..line_end];
    let s = status(line, b"HTTP/1.1 ").or_else(|| status(line, b"HTTP/1.0 "))?;
    Some(match expect {
        Some(e) => s == e,
        None => (200..400).contains(&s),
    })
}

fn status(bytes: &[u8], prefix: &[u8]) -> Option<u16> {
    let rest = bytes.strip_prefix(prefix)?;
    let digits = rest.get(..3)?;
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_is_a_well_formed_request() {
        let req = sip_options(
            "10.0.0.5:5060".parse().unwrap(),
            "10.0.0.1:40000".parse().unwrap(),
            "UDP",
            7,
        );
        let msg = rsip_check(&req);
        assert!(msg.starts_with("OPTIONS sip:10.0.0.5:5060 SIP/2.0\r\n"));
        assert!(req.contains("branch=z9hG4bK-mra-lb-7"));
        assert!(req.ends_with("Content-Length: 0\r\n\r\n"));
    }

    fn rsip_check(text: &str) -> &str {
        // Every header line is `Name: value`.
        for line in text.lines().skip(1).filter(|l| !l.is_empty()) {
            assert!(line.contains(": "), "{line}");
        }
        text
    }

    #[test]
    fn any_final_sip_response_is_alive() {
        assert_eq!(sip_final_status(b"SIP/2.0 200 OK\r\n"), Some(200));
        assert_eq!(
            sip_final_status(b"SIP/2.0 503 Service Unavailable\r\n"),
            Some(503)
        );
        assert_eq!(sip_final_status(b"SIP/2.0 100 Trying\r\n"), None);
        assert_eq!(sip_final_status(b"OPTIONS sip:x SIP/2.0\r\n"), None);
    }

    #[test]
    fn http_status_is_judged() {
        assert_eq!(http_alive(b"HTTP/1.1 204 No Content\r\n", None), Some(true));
        assert_eq!(http_alive(b"HTTP/1.0 302 Found\r\n", None), Some(true));
        assert_eq!(http_alive(b"HTTP/1.1 503 Busy\r\n", None), Some(false));
        assert_eq!(http_alive(b"HTTP/1.1 404 Nope\r\n", Some(404)), Some(true));
        assert_eq!(
            http_alive(b"HTTP/1.1 200 OK", None),
            None,
            "incomplete line"
        );
    }
}
