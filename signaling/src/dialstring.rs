//! Dial strings: what a room dialed, turned into meeting number, password
//! and host PIN. One parser for SIP Request-URIs and H.323 aliases.
//!
//! Forms understood (user part, optionally with `sip:`/`sips:`/`tel:`/`h323:`
//! and URI parameters):
//! - `123456789@gw` — number only
//! - `123456789**4321@gw` — Tencent style
//! - `123456789.4321@gw`, `123456789.4321.layout.hostkey@gw` — Zoom CRC style
//! - `gw##123456789#4321`, `123456789#4321`, `123456789##4321` — H.323 gateway/IVR style
//! - `123456789$$4321@gw` — Polycom RMX style
//!
//! A missing, non-numeric or all-zero number means "ask by IVR".

use media_api::layout::Layout;

/// The parts of a dial string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DialString {
    /// Meeting number, if the string named a plausible one.
    pub number: Option<String>,
    /// Meeting password, if one followed the number.
    pub password: Option<String>,
    /// Host key (Zoom's fourth field), if given.
    pub host_pin: Option<String>,
    /// The layout the room asked for (the third field: a layout's name,
    /// or its number of tiles on a keypad), if it named one we know.
    pub layout: Option<Layout>,
}

const SEPARATORS: [&str; 5] = ["**", "$$", "##", "#", "."];

/// Parses what a room dialed. Never fails: anything unusable yields no number.
pub fn parse(dialed: &str) -> DialString {
    let (user, is_tel) = user_part(dialed.trim());
    let decoded = percent_decode(user);
    let mut text = decoded.as_str();
    // `gw##number#password`: a gateway prefix is never all digits.
    if let Some(pos) = text
        .find("##")
        .filter(|&p| !text[..p].bytes().all(|b| b.is_ascii_digit()))
    {
        text = &text[pos + 2..];
    }
    let text = text.trim_end_matches('#');

    let (number, rest) = match SEPARATORS
        .iter()
        .filter_map(|sep| text.find(sep).map(|pos| (pos, sep.len())))
        .min_by_key(|&(pos, len)| (pos, std::cmp::Reverse(len)))
    {
        Some((pos, len)) => (&text[..pos], Some(&text[pos + len..])),
        None => (text, None),
    };
    let number = if is_tel {
        strip_visual_separators(number)
    } else {
        number.to_owned()
    };
    let number = Some(number).filter(|n| {
        !n.is_empty()
            && n.len() <= meeting::record::MAX_DIGITS
            && n.bytes().all(|b| b.is_ascii_digit())
            && n.bytes().any(|b| b != b'0')
    });
    let Some(number) = number else {
        return DialString::default();
    };

    let mut fields = rest
        .unwrap_or("")
        .split(['.', '#'])
        .map(|f| f.trim_start_matches('*'));
    let non_empty = |f: Option<&str>| f.filter(|f| !f.is_empty()).map(str::to_owned);
    let password = non_empty(fields.next());
    let layout = fields.next().and_then(Layout::from_name);
    let host_pin = non_empty(fields.next());
    DialString {
        number: Some(number),
        password,
        host_pin,
        layout,
    }
}

/// Strips scheme, host, URI parameters and headers; tells whether it was a tel: URI.
fn user_part(s: &str) -> (&str, bool) {
    // On bytes: `s` may start with any character, and a scheme is ASCII.
    let lower_prefix = |p: &str| {
        s.as_bytes()
            .get(..p.len())
            .is_some_and(|b| b.eq_ignore_ascii_case(p.as_bytes()))
    };
    let (rest, has_host, is_tel) = if lower_prefix("sips:") {
        (&s[5..], true, false)
    } else if lower_prefix("sip:") {
        (&s[4..], true, false)
    } else if lower_prefix("tel:") {
        (&s[4..], false, true)
    } else if lower_prefix("h323:") {
        (&s[5..], false, false)
    } else {
        (s, false, false)
    };
    let user = match rest.rfind('@') {
        Some(at) => &rest[..at],
        // `sip:host` has no user part; a bare alias is all user.
        None if has_host && !rest.contains("##") => "",
        None => rest,
    };
    let end = user.find([';', '?']).unwrap_or(user.len());
    (&user[..end], is_tel)
}

fn strip_visual_separators(s: &str) -> String {
    s.trim_start_matches('+')
        .chars()
        .filter(|c| !matches!(c, '-' | '(' | ')' | ' '))
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            if let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dialed string, then the meeting number, password and host PIN it must yield.
    type Case = (
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
    );

    #[test]
    fn any_text_is_read_without_panicking() {
        // Found by fuzz/sip_fields: a multi-byte character where a scheme
        // would end (an H.323 h323-ID alias can be any BMP text).
        let found = "\"M\u{7f}[\u{8fcb}{\0\0r. J. User ser@<1:506.us$$$$er@example.com>F";
        assert_eq!(parse(found).number, None);
        for text in [
            "é",
            "sïp:1@x",
            "h32\u{e9}:123",
            "t\u{e9}l:5",
            "\u{1f600}123456789",
        ] {
            let _ = parse(text);
        }
        assert_eq!(parse("\u{e9}123456789").number, None);
    }

    #[test]
    fn table() {
        let cases: &[Case] = &[
            ("123456789@gw", Some("123456789"), None, None),
            ("sip:123456789@gw", Some("123456789"), None, None),
            (
                "sips:123456789@gw:5061;transport=tls",
                Some("123456789"),
                None,
                None,
            ),
            ("123456789**4321@gw", Some("123456789"), Some("4321"), None),
            (
                "sip:123456789**4321@10.0.0.5",
                Some("123456789"),
                Some("4321"),
                None,
            ),
            ("123456789.4321@gw", Some("123456789"), Some("4321"), None),
            (
                "123456789.4321.2.777@zoomcrc.com",
                Some("123456789"),
                Some("4321"),
                Some("777"),
            ),
            ("gw##123456789#4321", Some("123456789"), Some("4321"), None),
            (
                "10.0.0.5##123456789#4321",
                Some("123456789"),
                Some("4321"),
                None,
            ),
            ("123456789#4321", Some("123456789"), Some("4321"), None),
            ("123456789#", Some("123456789"), None, None),
            ("123456789$$4321@gw", Some("123456789"), Some("4321"), None),
            (
                "sip:123456789%2A%2A4321@gw",
                Some("123456789"),
                Some("4321"),
                None,
            ),
            (
                "sip:123456789%23%234321@gw",
                Some("123456789"),
                Some("4321"),
                None,
            ),
            ("sip:123456789;user=phone@gw", Some("123456789"), None, None),
            ("tel:+1-234-567-89", Some("123456789"), None, None),
            (
                "tel:123456789;phone-context=example.com",
                Some("123456789"),
                None,
                None,
            ),
            (
                "h323:123456789**4321",
                Some("123456789"),
                Some("4321"),
                None,
            ),
            ("123456789", Some("123456789"), None, None),
            ("123456789**", Some("123456789"), None, None),
            ("123456789**abc@gw", Some("123456789"), Some("abc"), None),
            // IVR: no usable number
            ("0@gw", None, None, None),
            ("000@gw", None, None, None),
            ("@gw", None, None, None),
            ("sip:gw.example.com", None, None, None),
            ("sip:10.0.0.5:5060", None, None, None),
            ("conference@gw", None, None, None),
            ("", None, None, None),
            ("12a45@gw", None, None, None),
            ("123456789012345678901@gw", None, None, None),
        ];
        for (dialed, number, password, host_pin) in cases {
            let got = parse(dialed);
            let want = DialString {
                number: number.map(Into::into),
                password: password.map(Into::into),
                host_pin: host_pin.map(Into::into),
                layout: parse(dialed).layout,
            };
            assert_eq!(got, want, "dial string {dialed:?}");
        }
    }

    #[test]
    fn the_third_field_names_a_layout_by_name_or_by_its_tiles() {
        let layout = |dialed| parse(dialed).layout;
        assert_eq!(layout("123456789.4321.1:7@gw"), Some(Layout::OnePlus7));
        assert_eq!(layout("123456789.4321.2x2.99@gw"), Some(Layout::Grid(2)));
        assert_eq!(layout("gw##123456789#4321#9#77"), Some(Layout::Grid(3)));
        assert_eq!(layout("123456789..speaker@gw"), Some(Layout::Speaker));
        assert_eq!(layout("123456789.4321..77@gw"), None);
        assert_eq!(layout("123456789.4321.7@gw"), None, "no layout of 7 tiles");
        let with_host = parse("123456789.4321.ac.77@gw");
        assert_eq!(with_host.layout, Some(Layout::Automatic));
        assert_eq!(with_host.host_pin.as_deref(), Some("77"));
    }

    #[test]
    fn odd_escapes_do_not_panic() {
        for s in [
            "%",
            "%4",
            "1%zz@gw",
            "%E2%82@gw",
            "sip:%00@x",
            "##",
            "#",
            "**",
        ] {
            let _ = parse(s);
        }
    }
}
