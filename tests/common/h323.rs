//! A scripted H.323 endpoint's RAS side: builds the requests a room sends
//! to a gatekeeper, signs them with H.235.1 when given a password (the
//! HMAC computed by openssl, not by MRA), sends them over UDP and decodes
//! the answers, keeping every datagram both ways for the tshark oracle.

use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use h323_asn1::h225::{
    AdmissionRequest, BandWidth, BandwidthRequest, CallReferenceValue, CallType,
    ConferenceIdentifier, CryptoH323Token, EndpointIdentifier, EndpointType, GatekeeperRequest,
    GloballyUniqueID, LocationRequest, RasMessage, RegistrationRequest, RequestSeqNum,
    TerminalInfo, TimeToLive, UnregistrationRequest,
};
use h323_asn1::h235::{AuthenticationMechanism, CryptoToken};
use h323_asn1::rasn::types::{BitString, FixedOctetString, ObjectIdentifier};
use signaling::h323::address::{
    dialled_digits, h323_id, protocol_identifier, text, transport, vendor,
};
use signaling::h323::h235;

/// Where the hash goes until the message is encoded.
const HASH_SPOT: [u8; 12] = [
    0xa5, 0x5a, 0xc3, 0x3c, 0x96, 0x69, 0xa5, 0x5a, 0xc3, 0x3c, 0x96, 0x69,
];

pub struct RasClient {
    sock: UdpSocket,
    pub gatekeeper: SocketAddr,
    /// Where the endpoint takes calls (nobody listens: RAS only).
    pub call_signal: SocketAddr,
    seq: u16,
    /// Every datagram sent and received: (from, to, payload).
    pub wire: Vec<(SocketAddr, SocketAddr, Vec<u8>)>,
    /// Sign requests with H.235.1 under this password.
    pub password: Option<String>,
    /// The (timestamp, random) the next token carries, when not now and
    /// the next number.
    pub next_stamp: Option<(u64, i32)>,
    /// The (timestamp, random) of the last token sent.
    pub last_stamp: (u64, i32),
}

impl RasClient {
    pub fn new(gatekeeper: SocketAddr) -> RasClient {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        RasClient {
            call_signal: SocketAddr::new(sock.local_addr().unwrap().ip(), 1720),
            sock,
            gatekeeper,
            seq: 0,
            wire: Vec::new(),
            password: None,
            next_stamp: None,
            last_stamp: (0, 0),
        }
    }

    /// Signs every request from now on.
    pub fn signing(mut self, password: &str) -> RasClient {
        self.password = Some(password.to_owned());
        self
    }

    pub fn local(&self) -> SocketAddr {
        self.sock.local_addr().unwrap()
    }

    fn next_seq(&mut self) -> RequestSeqNum {
        self.seq += 1;
        RequestSeqNum(self.seq)
    }

    /// Sends raw bytes and decodes the answer.
    pub fn ask_raw(&mut self, bytes: &[u8]) -> RasMessage {
        self.sock.send_to(bytes, self.gatekeeper).unwrap();
        self.wire
            .push((self.local(), self.gatekeeper, bytes.to_vec()));
        let mut buf = [0u8; 4096];
        let (n, from) = self.sock.recv_from(&mut buf).expect("a RAS answer");
        self.wire.push((from, self.local(), buf[..n].to_vec()));
        h323_asn1::decode(&buf[..n])
            .unwrap_or_else(|e| panic!("answer {:02x?} does not decode: {e}", &buf[..n]))
    }

    pub fn ask(&mut self, mut m: RasMessage) -> RasMessage {
        let Some(password) = self.password.clone() else {
            return self.ask_raw(&h323_asn1::encode(&m).unwrap());
        };
        let (now, random) = self.next_stamp.take().unwrap_or_else(|| {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
            (now.as_secs(), self.last_stamp.1 + 1)
        });
        self.last_stamp = (now, random);
        // Sent by our endpoint identifier once we have one.
        let (tokens, sender) = match &mut m {
            RasMessage::registrationRequest(r) => {
                (&mut r.crypto_tokens, r.endpoint_identifier.clone())
            }
            RasMessage::unregistrationRequest(r) => {
                (&mut r.crypto_tokens, r.endpoint_identifier.clone())
            }
            RasMessage::admissionRequest(r) => {
                (&mut r.crypto_tokens, Some(r.endpoint_identifier.clone()))
            }
            RasMessage::bandwidthRequest(r) => {
                (&mut r.crypto_tokens, Some(r.endpoint_identifier.clone()))
            }
            _ => panic!("not a request a room signs"),
        };
        let sender = sender.map_or_else(|| "room".into(), |id| text(&id.0));
        let mut token = h235::token(Some("MRA"), &sender, now, random);
        if let CryptoH323Token::nestedcryptoToken(CryptoToken::cryptoHashedToken(t)) = &mut token {
            t.token.hash = BitString::from_slice(&HASH_SPOT);
        }
        *tokens = Some(vec![token]);
        let mut bytes = h323_asn1::encode(&m).unwrap();
        let at = find(&bytes, &HASH_SPOT).expect("the hash spot");
        bytes[at..at + 12].fill(0);
        let mac = openssl_hmac_sha1_96(&password, &bytes);
        bytes[at..at + 12].copy_from_slice(&mac);
        self.ask_raw(&bytes)
    }

    /// Whether the last answer carries a token whose HMAC-SHA1-96 under
    /// `password` covers it, as openssl computes it, and the token's
    /// generalID and sendersID.
    pub fn answer_signed(&self, password: &str) -> Option<(bool, Option<String>, Option<String>)> {
        let datagram = &self.wire.last()?.2;
        let m: RasMessage = h323_asn1::decode(datagram).ok()?;
        let tokens = match &m {
            RasMessage::registrationConfirm(r) => &r.crypto_tokens,
            RasMessage::registrationReject(r) => &r.crypto_tokens,
            RasMessage::unregistrationConfirm(r) => &r.crypto_tokens,
            RasMessage::admissionConfirm(r) => &r.crypto_tokens,
            RasMessage::admissionReject(r) => &r.crypto_tokens,
            _ => return None,
        };
        let token = h235::find(tokens.as_deref()?)?;
        let hash = token.token.hash.as_raw_slice();
        let mut zeroed = datagram.clone();
        let at = find(&zeroed, hash)?;
        zeroed[at..at + 12].fill(0);
        let ids = |id: &Option<h323_asn1::h235::Identifier>| {
            id.as_ref().map(|i| String::from_utf16_lossy(&i.0))
        };
        Some((
            openssl_hmac_sha1_96(password, &zeroed) == hash,
            ids(&token.hashed_vals.general_id),
            ids(&token.hashed_vals.senders_id),
        ))
    }

    /// A GRQ, offering H.235.1 (pwdHash with HMAC-SHA1-96) when asked.
    pub fn discover(&mut self, offer_h235: bool) -> RasMessage {
        let seq = self.next_seq();
        let grq = GatekeeperRequest::required(
            seq,
            protocol_identifier(),
            transport(self.local()),
            terminal(),
        )
        .with_endpoint_alias(vec![h323_id("room")])
        .with_authentication_capability(
            offer_h235.then(|| vec![AuthenticationMechanism::pwdHash(())]),
        )
        .with_algorithm_oids(offer_h235.then(|| {
            vec![ObjectIdentifier::new_unchecked(
                vec![0, 0, 8, 235, 0, 2, 6].into(),
            )]
        }))
        .with_supports_assigned_gk(false);
        self.ask_raw(&h323_asn1::encode(&RasMessage::gatekeeperRequest(grq)).unwrap())
    }

    /// A full RRQ for `aliases` (h323-IDs), or a lightweight one for
    /// `endpoint`.
    pub fn register(&mut self, aliases: &[&str], endpoint: Option<&str>) -> RasMessage {
        let seq = self.next_seq();
        let rrq = RegistrationRequest::required(
            seq,
            protocol_identifier(),
            true,
            vec![transport(self.call_signal)],
            vec![transport(self.local())],
            terminal(),
            vendor(),
        )
        .with_terminal_alias(
            (!aliases.is_empty()).then(|| aliases.iter().map(|a| h323_id(a)).collect()),
        )
        .with_time_to_live(TimeToLive(120))
        .with_keep_alive(endpoint.is_some())
        .with_endpoint_identifier(
            endpoint.map(|e| EndpointIdentifier(signaling::h323::address::bmp(e))),
        )
        .with_will_supply_uuies(false)
        .with_maintain_connection(false)
        .with_multiple_calls(false)
        .with_supports_assigned_gk(false);
        self.ask(RasMessage::registrationRequest(rrq))
    }

    pub fn unregister(&mut self, endpoint: &str) -> RasMessage {
        let seq = self.next_seq();
        let urq = UnregistrationRequest::required(seq, vec![transport(self.call_signal)])
            .with_endpoint_identifier(EndpointIdentifier(signaling::h323::address::bmp(endpoint)));
        self.ask(RasMessage::unregistrationRequest(urq))
    }

    /// An ARQ to call `digits`.
    pub fn admission(&mut self, endpoint: &str, digits: &str) -> RasMessage {
        let seq = self.next_seq();
        let arq = AdmissionRequest::required(
            seq,
            CallType::pointToPoint(()),
            EndpointIdentifier(signaling::h323::address::bmp(endpoint)),
            vec![h323_id("room")],
            BandWidth(7680),
            CallReferenceValue(1),
            ConferenceIdentifier(GloballyUniqueID(FixedOctetString::new([7; 16]))),
            false,
            false,
        )
        .with_destination_info(vec![dialled_digits(digits).unwrap()])
        .with_src_call_signal_address(transport(self.call_signal))
        .with_can_map_alias(false)
        .with_will_supply_uuies(false)
        .with_can_map_src_alias(false);
        self.ask(RasMessage::admissionRequest(arq))
    }

    /// A BRQ for the call of [`RasClient::admission`]: `units` of
    /// 100 bit/s, both directions together.
    pub fn bandwidth(&mut self, endpoint: &str, units: u32) -> RasMessage {
        let seq = self.next_seq();
        let brq = BandwidthRequest::required(
            seq,
            EndpointIdentifier(signaling::h323::address::bmp(endpoint)),
            ConferenceIdentifier(GloballyUniqueID(FixedOctetString::new([7; 16]))),
            CallReferenceValue(1),
            BandWidth(units),
        );
        self.ask(RasMessage::bandwidthRequest(brq))
    }

    /// An LRQ for `digits`, answers to this socket.
    pub fn locate(&mut self, digits: &str) -> RasMessage {
        let seq = self.next_seq();
        let lrq = LocationRequest::required(
            seq,
            vec![dialled_digits(digits).unwrap()],
            transport(self.local()),
        )
        .with_can_map_alias(false)
        .with_hop_count(4)
        .with_can_map_src_alias(false);
        self.ask_raw(&h323_asn1::encode(&RasMessage::locationRequest(lrq)).unwrap())
    }
}

fn terminal() -> EndpointType {
    EndpointType::required(false, false)
        .with_vendor(vendor())
        .with_terminal(TerminalInfo::new(None))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// HMAC-SHA1 keyed by SHA-1(`password`), cut to 96 bits, by openssl.
fn openssl_hmac_sha1_96(password: &str, data: &[u8]) -> Vec<u8> {
    let key = openssl(&["dgst", "-sha1", "-binary"], password.as_bytes());
    let hexkey: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let mac = openssl(
        &[
            "dgst",
            "-sha1",
            "-mac",
            "HMAC",
            "-macopt",
            &format!("hexkey:{hexkey}"),
            "-binary",
        ],
        data,
    );
    mac[..12].to_vec()
}

fn openssl(args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut child = super::tools::command("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl (package openssl)");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "openssl {args:?}");
    assert_eq!(out.stdout.len(), 20, "a SHA-1 sized digest");
    out.stdout
}

/// The endpoint identifier an RCF granted.
pub fn endpoint_id(rcf: &RasMessage) -> String {
    match rcf {
        RasMessage::registrationConfirm(c) => text(&c.endpoint_identifier.0),
        other => panic!("not an RCF: {other:?}"),
    }
}
