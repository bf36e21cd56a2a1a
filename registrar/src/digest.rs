//! HTTP digest authentication as SIP uses it (RFC 2617, RFC 7616, RFC 8760):
//! HA1 values (what the store keeps instead of passwords), the
//! `Authorization` header's parameters, the expected response, and
//! `WWW-Authenticate` challenges.

use md5::Md5;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A digest algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Algorithm {
    #[serde(rename = "MD5")]
    Md5,
    #[serde(rename = "SHA-256")]
    Sha256,
}

impl Algorithm {
    /// The token in headers.
    pub fn token(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    /// Parses the `algorithm` parameter (absent means MD5).
    pub fn parse(token: Option<&str>) -> Option<Algorithm> {
        match token {
            None => Some(Algorithm::Md5),
            Some(t) if t.eq_ignore_ascii_case("MD5") => Some(Algorithm::Md5),
            Some(t) if t.eq_ignore_ascii_case("SHA-256") => Some(Algorithm::Sha256),
            _ => None,
        }
    }

    /// Lower-case hex of the hash of `input`.
    pub fn hash(self, input: &str) -> String {
        match self {
            Algorithm::Md5 => hex::encode(Md5::digest(input.as_bytes())),
            Algorithm::Sha256 => hex::encode(Sha256::digest(input.as_bytes())),
        }
    }
}

/// HA1 = H(user:realm:password), what the store keeps.
pub fn ha1(algorithm: Algorithm, user: &str, realm: &str, password: &str) -> String {
    algorithm.hash(&format!("{user}:{realm}:{password}"))
}

/// The parameters of a `Digest` Authorization header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    pub response: String,
    pub algorithm: Option<String>,
    pub cnonce: Option<String>,
    pub qop: Option<String>,
    /// Nonce count, hexadecimal on the wire.
    pub nc: Option<u32>,
    pub opaque: Option<String>,
}

impl Credentials {
    /// Parses `Digest username="…", realm="…", …`; None when it is not a
    /// digest header or lacks a required parameter.
    pub fn parse(header: &str) -> Option<Credentials> {
        let header = header.trim();
        let (scheme, rest) = header.split_once(char::is_whitespace)?;
        if !scheme.eq_ignore_ascii_case("Digest") {
            return None;
        }
        let mut c = Credentials::default();
        let (mut username, mut realm, mut nonce, mut uri, mut response) =
            (None, None, None, None, None);
        for (name, value) in auth_params(rest) {
            match name.to_ascii_lowercase().as_str() {
                "username" => username = Some(value),
                "realm" => realm = Some(value),
                "nonce" => nonce = Some(value),
                "uri" => uri = Some(value),
                "response" => response = Some(value),
                "algorithm" => c.algorithm = Some(value),
                "cnonce" => c.cnonce = Some(value),
                "qop" => c.qop = Some(value),
                "nc" => c.nc = Some(u32::from_str_radix(&value, 16).ok()?),
                "opaque" => c.opaque = Some(value),
                _ => {}
            }
        }
        c.username = username?;
        c.realm = realm?;
        c.nonce = nonce?;
        c.uri = uri?;
        c.response = response?;
        Some(c)
    }

    /// Whether `response` is right for `method` given the account's `ha1`
    /// (compared in constant time).
    pub fn verify(&self, algorithm: Algorithm, ha1: &str, method: &str) -> bool {
        let expected = self.expected_response(algorithm, ha1, method);
        expected
            .as_bytes()
            .ct_eq(self.response.to_ascii_lowercase().as_bytes())
            .into()
    }

    fn expected_response(&self, algorithm: Algorithm, ha1: &str, method: &str) -> String {
        let ha2 = algorithm.hash(&format!("{method}:{}", self.uri));
        match (&self.qop, self.nc, &self.cnonce) {
            (Some(qop), Some(nc), Some(cnonce)) => algorithm.hash(&format!(
                "{ha1}:{}:{nc:08x}:{cnonce}:{qop}:{ha2}",
                self.nonce
            )),
            _ => algorithm.hash(&format!("{ha1}:{}:{ha2}", self.nonce)),
        }
    }
}

/// `name=value` pairs, values quoted or not, separated by commas.
fn auth_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s.trim_start();
    while !rest.is_empty() {
        let Some(eq) = rest.find('=') else { break };
        let name = rest[..eq].trim().trim_start_matches(',').trim().to_owned();
        rest = rest[eq + 1..].trim_start();
        let value;
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, ch)) = chars.next() {
                match ch {
                    '\\' => {
                        if let Some((_, next)) = chars.next() {
                            v.push(next);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    other => v.push(other),
                }
            }
            value = v;
            rest = &quoted[end.min(quoted.len())..];
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest[..end].trim().to_owned();
            rest = &rest[end..];
        }
        out.push((name, value));
        rest = rest.trim_start().trim_start_matches(',').trim_start();
    }
    out
}

/// A `WWW-Authenticate` value offering `algorithm` with qop=auth.
pub fn challenge(algorithm: Algorithm, realm: &str, nonce: &str, stale: bool) -> String {
    let mut value = format!(
        "Digest realm=\"{realm}\", nonce=\"{nonce}\", algorithm={}, qop=\"auth\"",
        algorithm.token()
    );
    if stale {
        value.push_str(", stale=true");
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 2617 section 3.5's example (MD5, qop=auth).
    #[test]
    fn rfc2617_example_verifies() {
        let header = r#"Digest username="Mufasa", realm="testrealm@host.com",
            nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html",
            qop=auth, nc=00000001, cnonce="0a4f113b",
            response="6629fae49393a05397450978507c4ef1",
            opaque="5ccc069c403ebaf9f0171e9517f40e41""#;
        let c = Credentials::parse(header).unwrap();
        assert_eq!(c.nc, Some(1));
        let ha1 = ha1(
            Algorithm::Md5,
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life",
        );
        assert!(c.verify(Algorithm::Md5, &ha1, "GET"));
        assert!(!c.verify(Algorithm::Md5, &ha1, "POST"));
        let wrong = super::ha1(Algorithm::Md5, "Mufasa", "testrealm@host.com", "circle");
        assert!(!c.verify(Algorithm::Md5, &wrong, "GET"));
    }

    /// RFC 7616 section 3.9.1's example, SHA-256.
    #[test]
    fn rfc7616_sha256_example_verifies() {
        let header = r#"Digest username="Mufasa", realm="http-auth@example.org",
            uri="/dir/index.html", algorithm=SHA-256,
            nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            nc=00000001, cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
            qop=auth,
            response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
            opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#;
        let c = Credentials::parse(header).unwrap();
        assert_eq!(
            Algorithm::parse(c.algorithm.as_deref()),
            Some(Algorithm::Sha256)
        );
        let ha1 = ha1(
            Algorithm::Sha256,
            "Mufasa",
            "http-auth@example.org",
            "Circle of Life",
        );
        assert!(c.verify(Algorithm::Sha256, &ha1, "GET"));
    }

    #[test]
    fn rfc2069_style_without_qop_verifies() {
        let ha1 = ha1(Algorithm::Md5, "1001", "mra", "s3cret");
        let ha2 = Algorithm::Md5.hash("REGISTER:sip:127.0.0.1");
        let response = Algorithm::Md5.hash(&format!("{ha1}:abc:{ha2}"));
        let header = format!(
            "Digest username=\"1001\",realm=\"mra\",nonce=\"abc\",uri=\"sip:127.0.0.1\",response=\"{response}\""
        );
        let c = Credentials::parse(&header).unwrap();
        assert!(c.verify(Algorithm::Md5, &ha1, "REGISTER"));
    }

    #[test]
    fn malformed_headers_are_refused() {
        assert!(Credentials::parse("Basic dXNlcjpwYXNz").is_none());
        assert!(Credentials::parse("Digest username=\"a\"").is_none());
        assert!(Credentials::parse(
            "Digest username=\"a\",realm=\"r\",nonce=\"n\",uri=\"u\",response=\"x\",nc=zz"
        )
        .is_none());
        assert!(Credentials::parse("Digest").is_none());
        assert!(Credentials::parse("Digest username=\"unterminated").is_none());
    }

    #[test]
    fn challenges_name_their_algorithm() {
        let c = challenge(Algorithm::Sha256, "mra", "n1", true);
        assert_eq!(
            c,
            "Digest realm=\"mra\", nonce=\"n1\", algorithm=SHA-256, qop=\"auth\", stale=true"
        );
    }
}
