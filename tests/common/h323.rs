//! A scripted H.323 endpoint's RAS side: builds the requests a room sends
//! to a gatekeeper, sends them over UDP and decodes the answers, keeping
//! every datagram both ways for the tshark oracle.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use h323_asn1::h225::{
    AdmissionRequest, BandWidth, CallReferenceValue, CallType, ConferenceIdentifier,
    EndpointIdentifier, EndpointType, GloballyUniqueID, LocationRequest, RasMessage,
    RegistrationRequest, RequestSeqNum, TerminalInfo, TimeToLive, UnregistrationRequest,
};
use h323_asn1::rasn::types::FixedOctetString;
use signaling::h323::address::{
    dialled_digits, h323_id, protocol_identifier, text, transport, vendor,
};

pub struct RasClient {
    sock: UdpSocket,
    pub gatekeeper: SocketAddr,
    /// Where the endpoint takes calls (nobody listens: RAS only).
    pub call_signal: SocketAddr,
    seq: u16,
    /// Every datagram sent and received: (from, to, payload).
    pub wire: Vec<(SocketAddr, SocketAddr, Vec<u8>)>,
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
        }
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

    pub fn ask(&mut self, m: &RasMessage) -> RasMessage {
        self.ask_raw(&h323_asn1::encode(m).unwrap())
    }

    /// A full RRQ for `aliases` (h323-IDs), or a lightweight one for
    /// `endpoint`.
    pub fn register(&mut self, aliases: &[&str], endpoint: Option<&str>) -> RasMessage {
        let seq = self.next_seq();
        let rrq = RegistrationRequest::new(
            seq,
            protocol_identifier(),
            None,
            true,
            vec![transport(self.call_signal)],
            vec![transport(self.local())],
            EndpointType::new(
                None,
                Some(vendor()),
                None,
                None,
                None,
                Some(TerminalInfo::new(None)),
                false,
                false,
                None,
                None,
            ),
            (!aliases.is_empty()).then(|| aliases.iter().map(|a| h323_id(a)).collect()),
            None,
            vendor(),
            None,
            Some(TimeToLive(120)),
            None,
            None,
            None,
            Some(endpoint.is_some()),
            endpoint.map(|e| EndpointIdentifier(signaling::h323::address::bmp(e))),
            Some(false),
            Some(false),
            None,
            None,
            None,
            None,
            None,
            Some(false),
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            Some(false),
            None,
            None,
            None,
        );
        self.ask(&RasMessage::registrationRequest(rrq))
    }

    pub fn unregister(&mut self, endpoint: &str) -> RasMessage {
        let seq = self.next_seq();
        let urq = UnregistrationRequest::new(
            seq,
            vec![transport(self.call_signal)],
            None,
            None,
            Some(EndpointIdentifier(signaling::h323::address::bmp(endpoint))),
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
        );
        self.ask(&RasMessage::unregistrationRequest(urq))
    }

    /// An ARQ to call `digits`.
    pub fn admission(&mut self, endpoint: &str, digits: &str) -> RasMessage {
        let seq = self.next_seq();
        let arq = AdmissionRequest::new(
            seq,
            CallType::pointToPoint(()),
            None,
            EndpointIdentifier(signaling::h323::address::bmp(endpoint)),
            Some(vec![dialled_digits(digits).unwrap()]),
            None,
            None,
            vec![h323_id("room")],
            Some(transport(self.call_signal)),
            BandWidth(7680),
            CallReferenceValue(1),
            None,
            None,
            ConferenceIdentifier(GloballyUniqueID(FixedOctetString::new([7; 16]))),
            false,
            false,
            Some(false),
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            Some(false),
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            Some(false),
        );
        self.ask(&RasMessage::admissionRequest(arq))
    }

    /// An LRQ for `digits`, answers to this socket.
    pub fn locate(&mut self, digits: &str) -> RasMessage {
        let seq = self.next_seq();
        let lrq = LocationRequest::new(
            seq,
            None,
            vec![dialled_digits(digits).unwrap()],
            None,
            transport(self.local()),
            None,
            Some(false),
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            Some(4),
            None,
            None,
            None,
            None,
            Some(false),
            None,
        );
        self.ask(&RasMessage::locationRequest(lrq))
    }
}

/// The endpoint identifier an RCF granted.
pub fn endpoint_id(rcf: &RasMessage) -> String {
    match rcf {
        RasMessage::registrationConfirm(c) => text(&c.endpoint_identifier.0),
        other => panic!("not an RCF: {other:?}"),
    }
}
