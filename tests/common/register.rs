//! A scripted REGISTER client over UDP, for tests that need exact control
//! of the digest exchange: the algorithm it answers, nonce counts,
//! replayed credentials, wrong passwords, foreign domains.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use registrar::digest::{ha1, Algorithm};

pub struct Registration {
    sock: UdpSocket,
    to: SocketAddr,
    user: String,
    /// The Request-URI host (a domain the registrar may or may not serve).
    pub domain: String,
    call_id: String,
    cseq: u32,
}

/// A response: status and full text.
pub struct Reply {
    pub status: u16,
    pub text: String,
}

/// A WWW-Authenticate challenge.
pub struct Challenge {
    pub realm: String,
    pub nonce: String,
    pub algorithm: Algorithm,
    pub stale: bool,
}

impl Reply {
    /// Every value of header `name`.
    pub fn headers(&self, name: &str) -> Vec<&str> {
        self.text
            .lines()
            .filter_map(|l| l.split_once(':'))
            .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
            .collect()
    }

    /// The challenge offering `algorithm`.
    pub fn challenge(&self, algorithm: Algorithm) -> Option<Challenge> {
        self.headers("WWW-Authenticate").into_iter().find_map(|h| {
            let param = |name: &str| -> Option<String> {
                let start = h.find(&format!("{name}="))? + name.len() + 1;
                let rest = h[start..].trim_start_matches('"');
                Some(rest[..rest.find(['"', ',']).unwrap_or(rest.len())].to_owned())
            };
            let offered = Algorithm::parse(param("algorithm").as_deref())?;
            (offered == algorithm).then(|| Challenge {
                realm: param("realm").unwrap_or_default(),
                nonce: param("nonce").unwrap_or_default(),
                algorithm,
                stale: param("stale").as_deref() == Some("true"),
            })
        })
    }
}

impl Registration {
    pub fn new(registrar: SocketAddr, user: &str) -> Registration {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        Registration {
            sock,
            to: registrar,
            user: user.to_owned(),
            domain: "127.0.0.1".into(),
            call_id: format!("{}-{user}@test", std::process::id()),
            cseq: 0,
        }
    }

    /// Sends a REGISTER (a new CSeq each time) and returns the final response.
    pub fn send(&mut self, expires: u32, authorization: Option<&str>) -> Reply {
        self.cseq += 1;
        let local = self.sock.local_addr().unwrap();
        let (user, domain, cseq) = (&self.user, &self.domain, self.cseq);
        let auth = authorization
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        let request = format!(
            "REGISTER sip:{domain} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch=z9hG4bK-{cseq}-{call_id};rport\r\n\
             From: <sip:{user}@{domain}>;tag=t{cseq}\r\n\
             To: <sip:{user}@{domain}>\r\n\
             Call-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\n\
             Contact: <sip:{user}@{local}>\r\nExpires: {expires}\r\n{auth}\
             Max-Forwards: 70\r\nUser-Agent: test-room\r\nContent-Length: 0\r\n\r\n",
            call_id = self.call_id,
        );
        self.sock.send_to(request.as_bytes(), self.to).unwrap();
        let mut buf = [0u8; 8192];
        loop {
            let (n, _) = self.sock.recv_from(&mut buf).expect("a response");
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            let status = text.get(8..11).and_then(|s| s.parse().ok()).unwrap_or(0);
            if status >= 200 {
                return Reply { status, text };
            }
        }
    }

    /// The Authorization value answering `challenge` with `password` and
    /// nonce count `nc` (qop=auth).
    pub fn answer(&self, challenge: &Challenge, password: &str, nc: u32) -> String {
        let alg = challenge.algorithm;
        let uri = format!("sip:{}", self.domain);
        let ha1 = ha1(alg, &self.user, &challenge.realm, password);
        let ha2 = alg.hash(&format!("REGISTER:{uri}"));
        let cnonce = "0a4f113b";
        let response = alg.hash(&format!(
            "{ha1}:{}:{nc:08x}:{cnonce}:auth:{ha2}",
            challenge.nonce
        ));
        format!(
            "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\", response=\"{response}\", \
             algorithm={}, cnonce=\"{cnonce}\", qop=auth, nc={nc:08x}",
            self.user,
            challenge.realm,
            challenge.nonce,
            alg.token()
        )
    }

    /// Registers with `password` answering the `algorithm` challenge; the reply.
    pub fn register(&mut self, password: &str, algorithm: Algorithm, expires: u32) -> Reply {
        let first = self.send(expires, None);
        assert_eq!(first.status, 401, "{}", first.text);
        let challenge = first.challenge(algorithm).expect("a challenge");
        let auth = self.answer(&challenge, password, 1);
        self.send(expires, Some(&auth))
    }
}
