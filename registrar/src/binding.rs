//! Bindings of an account and how a REGISTER changes them (RFC 3261
//! section 10.3 steps 6–8, RFC 5626 flows, RFC 3327 Path). Pure: fed the
//! current bindings and the request, returns the new set or a refusal.

use crate::contact::{ContactSpec, Contacts};

/// The `transport` of a binding made by an H.323 RAS registration (the SIP
/// ones are "udp" and "tcp").
pub const H323: &str = "h323";

/// Where a room can be reached, as the store keeps it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Binding {
    pub user: String,
    /// The Contact URI the room registered.
    pub contact: String,
    /// Unix seconds at which the binding lapses.
    pub expires_at: u64,
    /// Preference, 0.0–1.0 (1.0 when the room gave none).
    pub q: f32,
    pub call_id: String,
    pub cseq: u32,
    /// RFC 5626 instance and registration id, when the room asked for a flow.
    pub instance: Option<String>,
    pub reg_id: Option<u32>,
    /// RFC 3327 Path the request came through (first hop first).
    pub path: Vec<String>,
    /// The address the REGISTER came from (after rport/received): where a
    /// room behind NAT is actually reachable.
    pub source: String,
    /// "udp" or "tcp".
    pub transport: String,
    pub user_agent: Option<String>,
    /// Unix seconds of the REGISTER that last refreshed it.
    pub updated_at: u64,
    /// Whether it answered the last OPTIONS keepalive (None: not probed
    /// since it registered).
    pub reachable: Option<bool>,
    /// Unix seconds it last answered anything (REGISTER or OPTIONS).
    pub last_reply: u64,
}

impl Binding {
    /// Made by an H.323 registration rather than a SIP REGISTER.
    pub fn is_h323(&self) -> bool {
        self.transport == H323
    }
}

/// Expiry limits and account size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Policy {
    pub min_expires: u32,
    pub max_expires: u32,
    pub default_expires: u32,
    pub max_contacts: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            max_contacts: 10,
        }
    }
}

/// A REGISTER's content, as far as bindings go.
#[derive(Debug, Clone)]
pub struct Update {
    pub user: String,
    pub contacts: Contacts,
    /// The Expires header.
    pub expires: Option<u32>,
    pub call_id: String,
    pub cseq: u32,
    /// Path headers, when the room supports path.
    pub path: Vec<String>,
    /// The request said `Supported: outbound`.
    pub outbound: bool,
    pub source: String,
    pub transport: String,
    pub user_agent: Option<String>,
    pub now: u64,
}

/// Why bindings were not changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// 423 Interval Too Brief, with Min-Expires.
    #[error("expiry below the minimum of {0} s")]
    IntervalTooBrief(u32),
    /// 400: `*` without Expires: 0, and the like.
    #[error("{0}")]
    Malformed(&'static str),
    /// 500 (RFC 3261 10.3 step 7): an older or repeated CSeq of the same Call-ID.
    #[error("out-of-order REGISTER")]
    OutOfOrder,
    /// 403: the account has as many contacts as allowed.
    #[error("too many contacts (at most {0})")]
    TooManyContacts(usize),
}

/// The bindings after `update`, given the live `current` ones.
pub fn apply(
    current: &[Binding],
    update: &Update,
    policy: &Policy,
) -> Result<Vec<Binding>, Refusal> {
    let mut bindings: Vec<Binding> = current
        .iter()
        .filter(|b| b.expires_at > update.now)
        .cloned()
        .collect();
    match &update.contacts {
        Contacts::Query => Ok(bindings),
        Contacts::Wildcard => {
            if update.expires != Some(0) {
                return Err(Refusal::Malformed("Contact: * needs Expires: 0"));
            }
            if bindings
                .iter()
                .any(|b| b.call_id == update.call_id && update.cseq <= b.cseq)
            {
                return Err(Refusal::OutOfOrder);
            }
            Ok(Vec::new())
        }
        Contacts::List(list) => {
            for spec in list {
                let expires = spec
                    .expires
                    .or(update.expires)
                    .unwrap_or(policy.default_expires);
                if expires != 0 && expires < policy.min_expires {
                    return Err(Refusal::IntervalTooBrief(policy.min_expires));
                }
            }
            for spec in list {
                change(&mut bindings, spec, update, policy)?;
            }
            if bindings.len() > policy.max_contacts {
                return Err(Refusal::TooManyContacts(policy.max_contacts));
            }
            Ok(bindings)
        }
    }
}

fn change(
    bindings: &mut Vec<Binding>,
    spec: &ContactSpec,
    update: &Update,
    policy: &Policy,
) -> Result<(), Refusal> {
    let expires = spec
        .expires
        .or(update.expires)
        .unwrap_or(policy.default_expires)
        .min(policy.max_expires);
    // A flow (RFC 5626) is the same binding whatever its Contact URI.
    let flow = match (&spec.instance, spec.reg_id) {
        (Some(instance), Some(reg_id)) if update.outbound => Some((instance.clone(), reg_id)),
        _ => None,
    };
    let existing = bindings.iter().position(|b| match &flow {
        Some((instance, reg_id)) => {
            b.instance.as_deref() == Some(instance) && b.reg_id == Some(*reg_id)
        }
        None => same_uri(&b.contact, &spec.uri),
    });
    if let Some(i) = existing {
        let b = &bindings[i];
        if b.call_id == update.call_id && update.cseq <= b.cseq {
            return Err(Refusal::OutOfOrder);
        }
        bindings.remove(i);
    }
    if expires > 0 {
        bindings.push(Binding {
            user: update.user.clone(),
            contact: spec.uri.clone(),
            expires_at: update.now + u64::from(expires),
            q: spec.q.unwrap_or(1.0),
            call_id: update.call_id.clone(),
            cseq: update.cseq,
            instance: spec.instance.clone(),
            reg_id: flow.as_ref().map(|(_, id)| *id),
            path: update.path.clone(),
            source: update.source.clone(),
            transport: update.transport.clone(),
            user_agent: update.user_agent.clone(),
            updated_at: update.now,
            reachable: None,
            last_reply: update.now,
        });
    }
    Ok(())
}

/// URI equality, loosely per RFC 3261 19.1.4: scheme and host are
/// case-insensitive, the user part and parameters compared as written.
fn same_uri(a: &str, b: &str) -> bool {
    fn key(u: &str) -> (String, String) {
        let (scheme, rest) = u.split_once(':').unwrap_or(("", u));
        let (user, host) = match rest.rsplit_once('@') {
            Some((user, host)) => (format!("{user}@"), host),
            None => (String::new(), rest),
        };
        let (host, params) = host.split_once(';').unwrap_or((host, ""));
        (
            format!(
                "{}:{user}{}",
                scheme.to_ascii_lowercase(),
                host.to_ascii_lowercase()
            ),
            params.to_owned(),
        )
    }
    key(a) == key(b)
}

/// The Contact header value listing `b` in a 200 OK at `now`.
pub fn contact_value(b: &Binding, now: u64) -> String {
    let mut v = format!(
        "<{}>;expires={}",
        b.contact,
        b.expires_at.saturating_sub(now)
    );
    if b.q < 1.0 {
        let q = format!("{:.3}", b.q);
        v.push_str(";q=");
        v.push_str(q.trim_end_matches('0').trim_end_matches('.'));
    }
    if let (Some(instance), Some(reg_id)) = (&b.instance, b.reg_id) {
        v.push_str(&format!(";+sip.instance=\"{instance}\";reg-id={reg_id}"));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contact;

    fn update(
        contacts: &[&str],
        expires: Option<u32>,
        call_id: &str,
        cseq: u32,
        now: u64,
    ) -> Update {
        Update {
            user: "1001".into(),
            contacts: contact::parse(contacts).unwrap(),
            expires,
            call_id: call_id.into(),
            cseq,
            path: vec![],
            outbound: false,
            source: "192.0.2.9:5060".into(),
            transport: "udp".into(),
            user_agent: None,
            now,
        }
    }

    #[test]
    fn register_refresh_and_remove() {
        let p = Policy::default();
        let b = apply(
            &[],
            &update(&["<sip:1001@192.0.2.9>"], Some(600), "c1", 1, 1000),
            &p,
        )
        .unwrap();
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].expires_at, 1600);
        let b = apply(
            &b,
            &update(&["<sip:1001@192.0.2.9>"], Some(900), "c1", 2, 1100),
            &p,
        )
        .unwrap();
        assert_eq!((b.len(), b[0].expires_at), (1, 2000));
        // Several contacts, q-values, and a per-contact expires of 0.
        let b = apply(
            &b,
            &update(
                &[
                    "<sip:1001@192.0.2.10>;q=0.5",
                    "<sip:1001@192.0.2.9>;expires=0",
                ],
                Some(600),
                "c1",
                3,
                1200,
            ),
            &p,
        )
        .unwrap();
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].contact, "sip:1001@192.0.2.10");
        assert_eq!(b[0].q, 0.5);
        assert_eq!(
            contact_value(&b[0], 1200),
            "<sip:1001@192.0.2.10>;expires=600;q=0.5"
        );
    }

    #[test]
    fn expiry_limits() {
        let p = Policy::default();
        assert_eq!(
            apply(&[], &update(&["<sip:a@h>"], Some(30), "c", 1, 0), &p),
            Err(Refusal::IntervalTooBrief(60))
        );
        let b = apply(&[], &update(&["<sip:a@h>"], Some(100_000), "c", 1, 0), &p).unwrap();
        assert_eq!(b[0].expires_at, 3600);
        let b = apply(&[], &update(&["<sip:a@h>"], None, "c", 1, 0), &p).unwrap();
        assert_eq!(b[0].expires_at, 3600);
        // Lapsed bindings are gone.
        assert!(apply(&b, &update(&[], None, "c", 2, 3600), &p)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn wildcard_removes_everything_only_with_expires_zero() {
        let p = Policy::default();
        let b = apply(
            &[],
            &update(&["<sip:a@h1>", "<sip:a@h2>"], Some(600), "c", 1, 0),
            &p,
        )
        .unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(
            apply(&b, &update(&["*"], Some(600), "d", 1, 10), &p),
            Err(Refusal::Malformed("Contact: * needs Expires: 0"))
        );
        assert_eq!(
            apply(&b, &update(&["*"], Some(0), "c", 1, 10), &p),
            Err(Refusal::OutOfOrder)
        );
        assert!(apply(&b, &update(&["*"], Some(0), "d", 1, 10), &p)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn out_of_order_and_too_many() {
        let p = Policy {
            max_contacts: 2,
            ..Policy::default()
        };
        let b = apply(&[], &update(&["<sip:a@h1>"], Some(600), "c", 5, 0), &p).unwrap();
        assert_eq!(
            apply(&b, &update(&["<sip:a@h1>"], Some(600), "c", 5, 1), &p),
            Err(Refusal::OutOfOrder)
        );
        // Another Call-ID (a rebooted room) replaces it whatever its CSeq.
        assert_eq!(
            apply(&b, &update(&["<sip:a@H1>"], Some(600), "x", 1, 1), &p)
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            apply(
                &b,
                &update(&["<sip:a@h2>", "<sip:a@h3>"], Some(600), "c", 6, 1),
                &p
            ),
            Err(Refusal::TooManyContacts(2))
        );
    }

    #[test]
    fn outbound_flows_replace_by_instance() {
        let p = Policy::default();
        let mut u = update(
            &["<sip:a@10.0.0.1:5060>;+sip.instance=\"<urn:uuid:1>\";reg-id=1"],
            Some(600),
            "c",
            1,
            0,
        );
        u.outbound = true;
        let b = apply(&[], &u, &p).unwrap();
        // The room's address changed (new NAT binding): same flow, replaced.
        let mut u = update(
            &["<sip:a@10.0.0.1:6000>;+sip.instance=\"<urn:uuid:1>\";reg-id=1"],
            Some(600),
            "c",
            2,
            10,
        );
        u.outbound = true;
        let b = apply(&b, &u, &p).unwrap();
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].contact, "sip:a@10.0.0.1:6000");
        assert!(contact_value(&b[0], 10).ends_with(";+sip.instance=\"<urn:uuid:1>\";reg-id=1"));
    }
}
