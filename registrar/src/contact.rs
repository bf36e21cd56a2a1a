//! The Contact header values of a REGISTER (RFC 3261 section 10.2): `*`, or
//! addresses with their `expires`, `q`, and the RFC 5626 `+sip.instance` /
//! `reg-id` parameters.

/// One address a room asks to be reached at.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactSpec {
    pub uri: String,
    pub expires: Option<u32>,
    pub q: Option<f32>,
    pub instance: Option<String>,
    pub reg_id: Option<u32>,
}

/// What the Contact headers ask for.
#[derive(Debug, Clone, PartialEq)]
pub enum Contacts {
    /// No Contact: a query for the current bindings.
    Query,
    /// `*`: every binding (only with Expires: 0).
    Wildcard,
    List(Vec<ContactSpec>),
}

/// Why Contact headers could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed Contact: {0}")]
pub struct ContactError(pub &'static str);

/// Parses every Contact header value of a request.
pub fn parse(values: &[&str]) -> Result<Contacts, ContactError> {
    let items: Vec<&str> = values
        .iter()
        .flat_map(|v| split_commas(v))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if items.is_empty() {
        return Ok(Contacts::Query);
    }
    if items.contains(&"*") {
        return if items.len() == 1 {
            Ok(Contacts::Wildcard)
        } else {
            Err(ContactError("* must be the only Contact"))
        };
    }
    items
        .into_iter()
        .map(parse_one)
        .collect::<Result<_, _>>()
        .map(Contacts::List)
}

fn parse_one(item: &str) -> Result<ContactSpec, ContactError> {
    let (uri, params) = if let Some(open) = item.find('<') {
        let close = item[open..]
            .find('>')
            .map(|c| open + c)
            .ok_or(ContactError("unterminated <"))?;
        (&item[open + 1..close], &item[close + 1..])
    } else {
        // addr-spec: parameters after the URI belong to the header.
        item.split_once(';').unwrap_or((item, ""))
    };
    let uri = uri.trim();
    let scheme = uri.split(':').next().unwrap_or("").to_ascii_lowercase();
    if !matches!(scheme.as_str(), "sip" | "sips") || uri.len() <= scheme.len() + 1 {
        return Err(ContactError("not a sip: URI"));
    }
    let mut spec = ContactSpec {
        uri: uri.to_owned(),
        expires: None,
        q: None,
        instance: None,
        reg_id: None,
    };
    for param in params.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, value) = param.split_once('=').unwrap_or((param, ""));
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "expires" => {
                // Too large a value means "as long as you allow".
                spec.expires = Some(match value.parse::<u64>() {
                    Ok(v) => u32::try_from(v).unwrap_or(u32::MAX),
                    Err(_) => return Err(ContactError("expires is not a number")),
                })
            }
            "q" => {
                let q: f32 = value.parse().map_err(|_| ContactError("bad q"))?;
                if !(0.0..=1.0).contains(&q) {
                    return Err(ContactError("q out of range"));
                }
                spec.q = Some(q);
            }
            "+sip.instance" => spec.instance = Some(value.trim_matches('"').to_owned()),
            "reg-id" => spec.reg_id = Some(value.parse().map_err(|_| ContactError("bad reg-id"))?),
            _ => {}
        }
    }
    Ok(spec)
}

/// Splits at commas outside `<…>` and quotes.
fn split_commas(value: &str) -> Vec<&str> {
    let (mut out, mut start, mut angle, mut quoted) = (Vec::new(), 0, false, false);
    for (i, ch) in value.char_indices() {
        match ch {
            '"' if !angle => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !angle && !quoted => {
                out.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&value[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contacts_with_parameters() {
        let c = parse(&[
            r#""Board" <sip:1001@192.0.2.5:5060;transport=tcp>;expires=600;q=0.7;+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";reg-id=1"#,
            "sip:1001@192.0.2.6, <sip:1001@192.0.2.7;lr>;expires=0",
        ])
        .unwrap();
        let Contacts::List(list) = c else { panic!() };
        assert_eq!(list.len(), 3);
        assert_eq!(list[0].uri, "sip:1001@192.0.2.5:5060;transport=tcp");
        assert_eq!(list[0].expires, Some(600));
        assert_eq!(list[0].q, Some(0.7));
        assert_eq!(
            list[0].instance.as_deref(),
            Some("<urn:uuid:00000000-0000-1000-8000-000A95A0E128>")
        );
        assert_eq!(list[0].reg_id, Some(1));
        assert_eq!(list[1].uri, "sip:1001@192.0.2.6");
        assert_eq!(list[2].expires, Some(0));
    }

    #[test]
    fn wildcard_query_and_errors() {
        assert_eq!(parse(&["*"]), Ok(Contacts::Wildcard));
        assert_eq!(parse(&[]), Ok(Contacts::Query));
        assert!(parse(&["*, <sip:a@b>"]).is_err());
        assert!(parse(&["<sip:a@b"]).is_err());
        assert!(parse(&["<http://x>"]).is_err());
        assert!(parse(&["<sip:a@b>;q=2"]).is_err());
        assert!(parse(&["<sip:a@b>;expires=soon"]).is_err());
        assert_eq!(
            parse(&["<sip:a@b>;expires=99999999999"]),
            Ok(Contacts::List(vec![ContactSpec {
                uri: "sip:a@b".into(),
                expires: Some(u32::MAX),
                q: None,
                instance: None,
                reg_id: None
            }]))
        );
    }
}
