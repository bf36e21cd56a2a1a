//! A SIP message as the core handles it: start line, ordered headers
//! (unfolded, compact names expanded), body. Header values are parsed on
//! demand with rsip; serialization computes Content-Length.

use bytes::Bytes;
use rsip::headers::untyped::ToTypedHeader;

use super::Method;

/// Our `Server`/`User-Agent` value.
pub const PRODUCT: &str = concat!("MRA/", env!("CARGO_PKG_VERSION"));

/// First line of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    Request { method: Method, uri: String },
    Response { code: u16, reason: String },
}

/// One header line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: String,
}

/// A SIP request or response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub start: StartLine,
    /// Protocol version token of the start line (`SIP/2.0`).
    pub version: String,
    pub headers: Vec<Header>,
    pub body: Bytes,
}

/// The parts of a Via header the transaction and transport layers use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    pub transport: String,
    pub host: String,
    pub port: Option<u16>,
    pub branch: Option<String>,
    pub rport: bool,
}

impl Message {
    /// A new request with no headers.
    pub fn request(method: Method, uri: impl Into<String>) -> Message {
        Message {
            start: StartLine::Request {
                method,
                uri: uri.into(),
            },
            version: "SIP/2.0".into(),
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    /// A response to `req` copying Via, From, To, Call-ID, CSeq (RFC 3261 8.2.6.2).
    pub fn response_to(req: &Message, code: u16, reason: &str) -> Message {
        let mut resp = Message {
            start: StartLine::Response {
                code,
                reason: reason.to_owned(),
            },
            version: "SIP/2.0".into(),
            headers: Vec::new(),
            body: Bytes::new(),
        };
        for h in &req.headers {
            let keep = ["Via", "From", "To", "Call-ID", "CSeq"]
                .iter()
                .any(|n| h.name.eq_ignore_ascii_case(n))
                || (code == 100 && h.name.eq_ignore_ascii_case("Timestamp"));
            if keep {
                resp.headers.push(h.clone());
            }
        }
        resp.push("Server", PRODUCT);
        resp
    }

    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// The request method, or for a response the CSeq method.
    pub fn method(&self) -> Option<Method> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method.clone()),
            StartLine::Response { .. } => self.cseq().map(|(_, m)| m),
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { code, .. } => Some(code),
            StartLine::Request { .. } => None,
        }
    }

    pub fn request_uri(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { uri, .. } => Some(uri),
            StartLine::Response { .. } => None,
        }
    }

    /// Appends a header line.
    pub fn push(&mut self, name: &str, value: impl Into<String>) {
        self.headers.push(Header {
            name: name.to_owned(),
            value: value.into(),
        });
    }

    /// Replaces every line of `name` with one line.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.remove(name);
        self.push(name, value);
    }

    pub fn remove(&mut self, name: &str) {
        self.headers.retain(|h| !h.name.eq_ignore_ascii_case(name));
    }

    /// Sets the body and its Content-Type.
    pub fn set_body(&mut self, content_type: &str, body: impl Into<Bytes>) {
        self.set("Content-Type", content_type);
        self.body = body.into();
    }

    /// First line's value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.all(name).next()
    }

    /// Every line's value of a header, in order.
    pub fn all<'a, 'n>(&'a self, name: &'n str) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
        self.headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// Every comma-separated element of a list header, across lines.
    pub fn list<'a, 'n>(&'a self, name: &'n str) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
        self.all(name).flat_map(split_list)
    }

    /// Whether an option-tag list header (Supported, Require, Allow…) holds `tag`.
    pub fn has_tag(&self, name: &str, tag: &str) -> bool {
        self.list(name).any(|t| t.eq_ignore_ascii_case(tag))
    }

    /// Media type of the body (`application/sdp`), lower-cased, without parameters.
    pub fn content_type(&self) -> String {
        self.header("Content-Type")
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    }

    pub fn call_id(&self) -> Option<&str> {
        self.header("Call-ID")
    }

    /// CSeq number and method.
    pub fn cseq(&self) -> Option<(u32, Method)> {
        let mut parts = self.header("CSeq")?.split_whitespace();
        let seq = parts.next()?.parse().ok()?;
        let method = Method::parse(parts.next()?);
        parts.next().is_none().then_some((seq, method))
    }

    /// The topmost Via.
    pub fn top_via(&self) -> Option<Via> {
        self.list("Via").next().and_then(parse_via)
    }

    /// The `tag` parameter of From.
    pub fn from_tag(&self) -> Option<String> {
        self.header("From").and_then(tag_of)
    }

    /// The `tag` parameter of To.
    pub fn to_tag(&self) -> Option<String> {
        self.header("To").and_then(tag_of)
    }

    /// URI inside the first Contact.
    pub fn contact_uri(&self) -> Option<String> {
        self.list("Contact").next().and_then(name_addr_uri)
    }

    /// Serializes for the wire.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = Vec::with_capacity(512 + self.body.len());
        match &self.start {
            StartLine::Request { method, uri } => {
                out.extend_from_slice(format!("{method} {uri} {}\r\n", self.version).as_bytes())
            }
            StartLine::Response { code, reason } => {
                out.extend_from_slice(format!("{} {code} {reason}\r\n", self.version).as_bytes())
            }
        }
        for h in self
            .headers
            .iter()
            .filter(|h| !h.name.eq_ignore_ascii_case("Content-Length"))
        {
            out.extend_from_slice(h.name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(h.value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", self.body.len()).as_bytes());
        out.extend_from_slice(&self.body);
        out.into()
    }
}

/// Splits a header value at commas outside quotes and angle brackets.
pub fn split_list(value: &str) -> impl Iterator<Item = &str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut angle, mut escaped) = (0, false, false, false);
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                parts.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(value[start..].trim());
    parts.into_iter().filter(|p| !p.is_empty())
}

/// Parses one Via element with rsip.
pub fn parse_via(value: &str) -> Option<Via> {
    let via: rsip::typed::Via = rsip::headers::Via::from(value).typed().ok()?;
    let mut out = Via {
        transport: via.transport.to_string(),
        host: via.uri.host_with_port.host.to_string(),
        port: via.uri.host_with_port.port.map(|p| *p.value()),
        branch: via.branch().map(|b| b.to_string()),
        rport: false,
    };
    out.rport = via
        .params
        .iter()
        .any(|p| matches!(p, rsip::Param::Other(n, _) if n.value().eq_ignore_ascii_case("rport")));
    Some(out)
}

/// The `tag` parameter of a From/To value (`name-addr` or `addr-spec`, any URI scheme).
fn tag_of(value: &str) -> Option<String> {
    header_params(value)
        .find(|(name, _)| name.eq_ignore_ascii_case("tag"))
        .and_then(|(_, v)| v.map(str::to_owned))
}

/// The header parameters of a From/To/Contact element: what follows the `>`
/// of a name-addr, or the first `;` of an addr-spec, outside quotes.
pub fn header_params(value: &str) -> impl Iterator<Item = (&str, Option<&str>)> {
    let (mut quoted, mut escaped, mut start) = (false, false, None);
    let angle = value.contains('<');
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '>' if !quoted && angle => {
                start = Some(i + 1);
                break;
            }
            ';' if !quoted && !angle => {
                start = Some(i);
                break;
            }
            _ => {}
        }
    }
    let rest = start.map_or("", |s| &value[s..]);
    rest.split(';').filter_map(|p| {
        let p = p.trim();
        if p.is_empty() {
            return None;
        }
        Some(match p.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
            None => (p, None),
        })
    })
}

/// True if `value` is a well-formed `name-addr` or `addr-spec` with any URI
/// scheme: quotes balanced, `<` closed, and no white space inside the URI.
pub fn is_address(value: &str) -> bool {
    let (mut quoted, mut escaped) = (false, false);
    let mut unquoted = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            _ if !quoted => unquoted.push(c),
            _ => {}
        }
    }
    if quoted {
        return false;
    }
    let uri = match unquoted.split_once('<') {
        Some((_, rest)) => match rest.split_once('>') {
            Some((uri, _)) => uri,
            None => return false,
        },
        None => unquoted.split(';').next().unwrap_or_default(),
    };
    let uri = if unquoted.contains('<') {
        uri
    } else {
        uri.trim()
    };
    uri.split_once(':').is_some_and(|(scheme, rest)| {
        !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
            && !rest.is_empty()
            && !uri.contains(char::is_whitespace)
    })
}

/// The URI of a name-addr / addr-spec value (`"Name" <sip:a@b>;p=1`).
pub fn name_addr_uri(value: &str) -> Option<String> {
    let parsed: rsip::typed::Contact = rsip::headers::Contact::from(value).typed().ok()?;
    Some(parsed.uri.to_string())
}

/// Display name of a From/To value, if it has one.
pub fn display_name(value: &str) -> Option<String> {
    let parsed: rsip::typed::From = rsip::headers::From::from(value).typed().ok()?;
    parsed
        .display_name
        .map(|d| d.trim_matches('"').to_owned())
        .filter(|d| !d.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lists_outside_quotes_and_brackets() {
        let v: Vec<_> = split_list(r#""a, b" <sip:x@y;p=1,2>;q=1, <sip:z@w>"#).collect();
        assert_eq!(v, vec![r#""a, b" <sip:x@y;p=1,2>;q=1"#, "<sip:z@w>"]);
        assert_eq!(split_list(",,,").count(), 0);
    }

    #[test]
    fn tags_and_addresses_of_any_scheme() {
        assert_eq!(
            tag_of("<http://www.example.com>;tag=3234233"),
            Some("3234233".into())
        );
        assert_eq!(tag_of("sip:a@b;tag=x"), Some("x".into()));
        assert_eq!(
            tag_of(r#""a;tag=no" <sip:a@b;tag=no>;tag=yes"#),
            Some("yes".into())
        );
        assert_eq!(tag_of("isbn:2983792873"), None);
        assert!(is_address("isbn:2983792873"));
        assert!(is_address(
            r#""J Rosenberg \\\"" <sip:j@example.com>;tag=1"#
        ));
        assert!(!is_address(
            r#""Watson, Thomas" < sip:t.watson@example.org >"#
        ));
        assert!(!is_address(r#""unterminated <sip:a@b>"#));
        assert!(!is_address("<sip:a@b"));
    }

    #[test]
    fn via_fields() {
        let v = parse_via("SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK776;rport").unwrap();
        assert_eq!(
            (v.transport.as_str(), v.host.as_str(), v.port),
            ("UDP", "10.0.0.1", Some(5070))
        );
        assert_eq!(v.branch.as_deref(), Some("z9hG4bK776"));
        assert!(v.rport);
    }
}
