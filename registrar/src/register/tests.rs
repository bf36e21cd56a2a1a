use super::*;
use crate::memory_store::{block_on, MemoryStore};
use crate::{Account, Binding};

fn registrar(cfg: RegistrarConfig) -> (Registrar, Arc<MemoryStore>) {
    let mut store = MemoryStore::default();
    store.accounts.insert(
        "1001".into(),
        Account {
            user: "1001".into(),
            display_name: "Board room".into(),
            realm: cfg.realm.clone(),
            ha1_md5: digest::ha1(Algorithm::Md5, "1001", &cfg.realm, "s3cret"),
            ha1_sha256: digest::ha1(Algorithm::Sha256, "1001", &cfg.realm, "s3cret"),
            h235_key: String::new(),
            transports: vec!["udp".into(), "tcp".into()],
            max_call_rate_kbps: None,
            encryption: None,
        },
    );
    let store = Arc::new(store);
    (Registrar::new(cfg, store.clone()), store)
}

fn request(user: &str, now: u64) -> At {
    At(
        now,
        RegisterRequest {
            request_uri: "sip:127.0.0.1".into(),
            to_uri: format!("sip:{user}@127.0.0.1"),
            call_id: "reg-1".into(),
            cseq: 1,
            contacts: vec![format!("<sip:{user}@192.0.2.9:5062>")],
            expires: Some(600),
            authorization: vec![],
            path: vec![],
            supported: vec![],
            user_agent: Some("test".into()),
            source: "192.0.2.9:5062".parse().unwrap(),
            transport: "udp",
        },
    )
}

/// A request and when it arrives.
struct At(u64, RegisterRequest);

impl std::ops::Deref for At {
    type Target = RegisterRequest;
    fn deref(&self) -> &RegisterRequest {
        &self.1
    }
}

impl std::ops::DerefMut for At {
    fn deref_mut(&mut self) -> &mut RegisterRequest {
        &mut self.1
    }
}

fn send(r: &Registrar, at: &At) -> RegisterReply {
    block_on(r.register(&at.1, at.0))
}

/// What a client puts in Authorization for `challenge`.
fn answer(challenge: &str, user: &str, password: &str, nc: u32) -> String {
    let field = |name: &str| {
        let start = challenge.find(&format!("{name}=")).unwrap() + name.len() + 1;
        let rest = &challenge[start..];
        let rest = rest.trim_start_matches('"');
        rest[..rest.find(['"', ',']).unwrap_or(rest.len())].to_owned()
    };
    let (realm, nonce, alg) = (field("realm"), field("nonce"), field("algorithm"));
    let algorithm = Algorithm::parse(Some(&alg)).unwrap();
    let ha1 = digest::ha1(algorithm, user, &realm, password);
    let ha2 = algorithm.hash("REGISTER:sip:127.0.0.1");
    let response = algorithm.hash(&format!("{ha1}:{nonce}:{nc:08x}:abcd:auth:{ha2}"));
    format!(
        "Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"sip:127.0.0.1\", \
         response=\"{response}\", algorithm={alg}, cnonce=\"abcd\", qop=auth, nc={nc:08x}"
    )
}

#[test]
fn md5_and_sha256_registrations_succeed_after_a_challenge() {
    let (r, store) = registrar(RegistrarConfig {
        algorithms: vec![Algorithm::Md5, Algorithm::Sha256],
        ..RegistrarConfig::default()
    });
    let first = send(&r, &request("1001", 1000));
    assert_eq!(first.code, 401);
    let challenges: Vec<&str> = first
        .headers
        .iter()
        .filter(|(n, _)| *n == "WWW-Authenticate")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(challenges.len(), 2);
    assert!(challenges[0].contains("algorithm=MD5"));
    assert!(challenges[1].contains("algorithm=SHA-256"));
    for (i, challenge) in challenges.iter().enumerate() {
        let mut req = request("1001", 1001);
        req.cseq = 2 + i as u32;
        req.authorization = vec![answer(challenge, "1001", "s3cret", 1 + i as u32)];
        let ok = send(&r, &req);
        assert_eq!(ok.code, 200, "{challenge}: {ok:?}");
        assert_eq!(
            ok.header("Contact"),
            Some("<sip:1001@192.0.2.9:5062>;expires=600")
        );
    }
    let stored = &store.bindings.lock().unwrap()["1001"];
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].source, "192.0.2.9:5062");
}

#[test]
fn wrong_passwords_and_unknown_users_look_alike_and_lock_out() {
    let (r, _) = registrar(RegistrarConfig {
        lockout: LockoutPolicy {
            max_failures: 3,
            window_secs: 60,
            lockout_secs: 300,
        },
        ..RegistrarConfig::default()
    });
    let challenge = send(&r, &request("1001", 0))
        .header("WWW-Authenticate")
        .unwrap()
        .to_owned();
    let mut wrong = request("1001", 1);
    wrong.authorization = vec![answer(&challenge, "1001", "guess", 1)];
    let mut unknown = request("2002", 1);
    unknown.authorization = vec![answer(&challenge, "2002", "guess", 2)];
    let a = send(&r, &wrong);
    let b = send(&r, &unknown);
    assert_eq!((a.code, b.code), (401, 401));
    let shape = |reply: &RegisterReply| -> Vec<String> {
        reply
            .headers
            .iter()
            .map(|(n, v)| format!("{n}: {}", v.split("nonce=").next().unwrap()))
            .collect()
    };
    assert_eq!(shape(&a), shape(&b));
    // The third failure locks the address; even the right password is refused then.
    assert_eq!(send(&r, &wrong).code, 401);
    let mut right = request("1001", 2);
    right.authorization = vec![answer(&challenge, "1001", "s3cret", 9)];
    let locked = send(&r, &right);
    assert_eq!(locked.code, 403);
    assert_eq!(locked.header("Retry-After"), Some("299"));
    assert_eq!(r.stats.lockouts.load(Ordering::Relaxed), 1);
    // Another address is not affected.
    let mut elsewhere = request("1001", 2);
    elsewhere.source = "192.0.2.77:5060".parse().unwrap();
    elsewhere.authorization = vec![answer(&challenge, "1001", "s3cret", 10)];
    assert_eq!(send(&r, &elsewhere).code, 200);
}

#[test]
fn replayed_and_stale_nonces_are_refused() {
    let (r, _) = registrar(RegistrarConfig::default());
    let challenge = send(&r, &request("1001", 0))
        .header("WWW-Authenticate")
        .unwrap()
        .to_owned();
    let mut req = request("1001", 1);
    req.authorization = vec![answer(&challenge, "1001", "s3cret", 1)];
    assert_eq!(send(&r, &req).code, 200);
    let replay = send(&r, &req);
    assert_eq!(replay.code, 401);
    assert!(replay
        .header("WWW-Authenticate")
        .unwrap()
        .contains("stale=true"));
    assert_eq!(r.stats.replays.load(Ordering::Relaxed), 1);
    let mut late = request("1001", 1000);
    late.cseq = 3;
    late.authorization = vec![answer(&challenge, "1001", "s3cret", 2)];
    let stale = send(&r, &late);
    assert_eq!(stale.code, 401);
    assert!(stale
        .header("WWW-Authenticate")
        .unwrap()
        .contains("stale=true"));
}

#[test]
fn foreign_domains_short_expiry_and_unregister() {
    let (r, store) = registrar(RegistrarConfig {
        domains: vec!["127.0.0.1".into()],
        ..RegistrarConfig::default()
    });
    let mut foreign = request("1001", 0);
    foreign.request_uri = "sip:example.com".into();
    assert_eq!(send(&r, &foreign).code, 403);
    foreign.request_uri = "sip:192.0.2.200".into();
    assert_eq!(send(&r, &foreign).code, 403, "not an address of this host");
    foreign.request_uri = "sip:127.0.0.2:5060".into();
    assert_eq!(send(&r, &foreign).code, 401, "an address of this host");
    let challenge = send(&r, &request("1001", 0))
        .header("WWW-Authenticate")
        .unwrap()
        .to_owned();
    let mut brief = request("1001", 1);
    brief.expires = Some(10);
    brief.authorization = vec![answer(&challenge, "1001", "s3cret", 1)];
    let reply = send(&r, &brief);
    assert_eq!((reply.code, reply.header("Min-Expires")), (423, Some("60")));
    let mut ok = request("1001", 1);
    ok.authorization = vec![answer(&challenge, "1001", "s3cret", 2)];
    assert_eq!(send(&r, &ok).code, 200);
    let mut all = request("1001", 2);
    all.cseq = 2;
    all.contacts = vec!["*".into()];
    all.expires = Some(0);
    all.authorization = vec![answer(&challenge, "1001", "s3cret", 3)];
    let reply = send(&r, &all);
    assert_eq!((reply.code, reply.header("Contact")), (200, None));
    assert!(store.bindings.lock().unwrap()["1001"].is_empty());
}

#[test]
fn a_sip_register_leaves_the_rooms_h323_registration_alone() {
    let (r, store) = registrar(RegistrarConfig::default());
    let h323 = Binding {
        user: "1001".into(),
        contact: "h323:1001@192.0.2.5:1720".into(),
        expires_at: 5000,
        q: 1.0,
        call_id: "1001/00000001".into(),
        cseq: 0,
        instance: None,
        reg_id: None,
        path: Vec::new(),
        source: "192.0.2.5:1719".into(),
        transport: crate::binding::H323.into(),
        user_agent: None,
        updated_at: 900,
        reachable: None,
        last_reply: 900,
    };
    store
        .bindings
        .lock()
        .unwrap()
        .insert("1001".into(), vec![h323.clone()]);
    let challenge = send(&r, &request("1001", 1000));
    let mut req = request("1001", 1001);
    req.cseq = 2;
    req.authorization = vec![answer(
        challenge.header("WWW-Authenticate").unwrap(),
        "1001",
        "s3cret",
        1,
    )];
    let ok = send(&r, &req);
    assert_eq!(ok.code, 200, "{ok:?}");
    assert_eq!(
        ok.headers.iter().filter(|(n, _)| *n == "Contact").count(),
        1
    );
    let stored = &store.bindings.lock().unwrap()["1001"];
    assert_eq!(stored.len(), 2);
    assert!(stored.contains(&h323));
}
