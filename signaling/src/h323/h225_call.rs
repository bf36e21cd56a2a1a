//! H.225.0 call signalling of one incoming call (clause 8 of H.323, Q.931
//! procedures as H.225.0 profiles them): the Setup's content is read out
//! (dial string, caller, fast-start proposals, tunnelled H.245, H.245
//! address), and the call answers with CallProceeding, Alerting, Connect,
//! Facility (tunnelled H.245) and ReleaseComplete with a cause and an H.225
//! reason. StatusEnquiry gets Status, keypad digits come out as DTMF, and
//! a message that cannot be read gets a Status with the Q.931 cause
//! instead of ending the call. Sans-IO: Q.931 bytes in, Q.931 bytes and
//! events out; TPKT and the socket live in the driver.

use std::net::SocketAddr;

use h323_asn1::h225::{
    AlertingUUIE, CallIdentifier, CallProceedingUUIE, CallType, ConferenceIdentifier, ConnectUUIE,
    FacilityReason, FacilityUUIE, GloballyUniqueID, H323UUPDUH323MessageBody as Body,
    H323UserInformation, ReleaseCompleteReason, ReleaseCompleteUUIE, SetupUUIE,
    SetupUUIEConferenceGoal, StatusUUIE, H323UUPDU,
};
use h323_asn1::rasn::types::{FixedOctetString, OctetString};

use super::address::{
    alias_text, dialled_digits, endpoint_type, h323_id, protocol_identifier, socket_addr, transport,
};
use super::q931::{cause, ie, MessageType, Q931};

/// What an incoming Setup asked for.
#[derive(Debug, Clone)]
pub struct IncomingSetup {
    /// The dial string from the destination aliases or the Called party
    /// number (None: ask by IVR).
    pub dial: Option<String>,
    /// Who calls: the Display IE, else the first source alias.
    pub caller: String,
    /// The caller's aliases (H.323 IDs, E.164 numbers).
    pub source_aliases: Vec<String>,
    /// Proposed logical channels (encoded OpenLogicalChannel).
    pub fast_start: Vec<Vec<u8>>,
    /// Whether the caller tunnels H.245 in call signalling.
    pub h245_tunnelling: bool,
    /// Where the caller listens for a separate H.245 connection.
    pub h245_address: Option<SocketAddr>,
}

#[derive(Debug, Clone)]
pub enum Event {
    Setup(IncomingSetup),
    /// An H.245 message tunnelled in any call-signalling message.
    H245(Vec<u8>),
    /// Digits from a Keypad facility element.
    Digits(String),
    /// The other side released; its cause when it gave one.
    Released(Option<u8>),
    /// The called room's progress, when we called.
    Progress(CalleeProgress),
}

/// What a called room's CallProceeding, Alerting, Progress or Connect said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalleeProgress {
    pub ringing: bool,
    pub connected: bool,
    /// Its fast-start answer (encoded OpenLogicalChannel), if in this one.
    pub fast_start: Vec<Vec<u8>>,
    /// Where it listens for a separate H.245 connection.
    pub h245_address: Option<SocketAddr>,
    /// Whether it tunnels H.245 (its answer to ours).
    pub h245_tunnelling: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    /// Our Setup is out.
    Initiated,
    /// The room is ringing (after we called).
    Delivered,
    Present,
    Proceeding,
    Received,
    Active,
    Released,
}

impl State {
    /// The Q.931 call state value reported in Status.
    fn code(self) -> u8 {
        match self {
            State::Idle | State::Released => 0,
            State::Initiated => 1,
            State::Delivered => 4,
            State::Present => 6,
            State::Received => 7,
            State::Proceeding => 9,
            State::Active => 10,
        }
    }
}

/// One call's H.225.0 signalling, answering a room's Setup or calling a
/// room with ours.
#[derive(Debug)]
pub struct H225Call {
    state: State,
    /// True when we sent the Setup.
    we_called: bool,
    call_ref: u16,
    call_identifier: Option<CallIdentifier>,
    conference_id: Option<ConferenceIdentifier>,
    tunnelling: bool,
    /// Tunnelled H.245 waiting for the next message we send.
    h245_out: Vec<Vec<u8>>,
}

impl Default for H225Call {
    fn default() -> Self {
        H225Call::new()
    }
}

impl H225Call {
    pub fn new() -> H225Call {
        H225Call {
            state: State::Idle,
            we_called: false,
            call_ref: 0,
            call_identifier: None,
            conference_id: None,
            tunnelling: false,
            h245_out: Vec::new(),
        }
    }

    pub fn is_released(&self) -> bool {
        self.state == State::Released
    }

    /// The call's identity (see [`call_identity`]).
    pub fn call_id(&self) -> String {
        call_identity(self.call_identifier.as_ref(), self.conference_id.as_ref())
    }

    /// Reads one Q.931 message: the events it carries and the messages to
    /// send back at once.
    pub fn receive(&mut self, bytes: &[u8]) -> (Vec<Event>, Vec<Vec<u8>>) {
        let mut events = Vec::new();
        let q931 = match Q931::parse(bytes) {
            Ok(m) => m,
            Err(e) => return (events, vec![self.status(e.cause())]),
        };
        let uu: Option<H323UserInformation> =
            q931.user_user().and_then(|per| h323_asn1::decode(per).ok());
        if q931.user_user().is_some() && uu.is_none() {
            if q931.kind == MessageType::Setup {
                self.call_ref = q931.call_ref;
                return (
                    events,
                    vec![self.release(
                        cause::INVALID_IE_CONTENTS,
                        ReleaseCompleteReason::undefinedReason(()),
                    )],
                );
            }
            return (events, vec![self.status(cause::INVALID_IE_CONTENTS)]);
        }
        if let Some(pdu) = uu.as_ref().map(|u| &u.h323_uu_pdu) {
            events.extend(
                pdu.h245_control
                    .iter()
                    .flatten()
                    .map(|m| Event::H245(m.to_vec())),
            );
        }
        let mut replies = Vec::new();
        match q931.kind {
            MessageType::Setup if self.state == State::Idle => {
                let setup = uu.and_then(|u| match u.h323_uu_pdu.h323_message_body {
                    Body::setup(s) => Some((s, u.h323_uu_pdu.h245_tunnelling)),
                    _ => None,
                });
                let Some((setup, tunnelling)) = setup else {
                    self.call_ref = q931.call_ref;
                    replies.push(self.release(
                        cause::MANDATORY_IE_MISSING,
                        ReleaseCompleteReason::undefinedReason(()),
                    ));
                    return (events, replies);
                };
                self.call_ref = q931.call_ref;
                self.state = State::Present;
                self.tunnelling = tunnelling == Some(true);
                self.call_identifier = setup.call_identifier.clone();
                self.conference_id = Some(setup.conference_id.clone());
                // The Setup's own tunnelled messages come after it.
                let tunnelled = std::mem::take(&mut events);
                events.push(Event::Setup(incoming(&q931, &setup, self.tunnelling)));
                events.extend(tunnelled);
            }
            MessageType::Setup => replies.push(self.status(cause::STATE_INCOMPATIBLE)),
            MessageType::ReleaseComplete => {
                self.state = State::Released;
                events.push(Event::Released(q931.cause()));
            }
            MessageType::StatusEnquiry => replies.push(self.status(cause::STATUS_ENQUIRY)),
            MessageType::Information => {
                if let Some(digits) = q931.keypad() {
                    events.push(Event::Digits(digits));
                }
            }
            MessageType::CallProceeding
            | MessageType::Alerting
            | MessageType::Progress
            | MessageType::Connect
                if self.we_called =>
            {
                let progress = progress(q931.kind, uu.map(|u| u.h323_uu_pdu));
                if progress.connected {
                    self.state = State::Active;
                } else if progress.ringing {
                    self.state = State::Delivered;
                }
                self.tunnelling &= progress.h245_tunnelling;
                events.push(Event::Progress(progress));
            }
            MessageType::Facility
            | MessageType::Progress
            | MessageType::Notify
            | MessageType::Status
            | MessageType::Alerting
            | MessageType::CallProceeding
            | MessageType::Connect => {}
            _ => replies.push(self.status(cause::MESSAGE_TYPE_NOT_IMPLEMENTED)),
        }
        (events, replies)
    }

    /// Our Setup to `alias` from `caller`, with our fast-start
    /// `proposals`, offering to tunnel H.245.
    pub fn setup(&mut self, alias: &str, caller: &str, proposals: Vec<Vec<u8>>) -> Vec<u8> {
        let guid = || GloballyUniqueID(FixedOctetString::from(rand::random::<[u8; 16]>()));
        self.we_called = true;
        self.tunnelling = true;
        self.state = State::Initiated;
        self.call_ref = rand::random::<u16>() & 0x7fff;
        let call_identifier = CallIdentifier::new(guid());
        let conference_id = ConferenceIdentifier(guid());
        self.call_identifier = Some(call_identifier.clone());
        self.conference_id = Some(conference_id.clone());
        let destination = dialled_digits(alias).unwrap_or_else(|| h323_id(alias));
        let body = Body::setup(
            SetupUUIE::required(
                protocol_identifier(),
                endpoint_type(),
                false,
                conference_id,
                SetupUUIEConferenceGoal::create(()),
                CallType::pointToPoint(()),
            )
            .with_source_address(vec![h323_id(caller)])
            .with_destination_address(vec![destination])
            .with_call_identifier(call_identifier)
            .with_fast_start(
                (!proposals.is_empty())
                    .then(|| proposals.into_iter().map(OctetString::from).collect()),
            )
            .with_media_wait_for_connect(false)
            .with_can_overlap_send(false)
            .with_multiple_calls(false)
            .with_maintain_connection(false),
        );
        self.message(MessageType::Setup, body, |m| {
            m.set(ie::BEARER_CAPABILITY, BEARER_H221.to_vec())
                .set_display(caller);
            if alias.bytes().all(|b| b.is_ascii_digit()) {
                m.set_party_number(ie::CALLED_PARTY_NUMBER, alias);
            }
        })
    }

    /// CallProceeding: the Setup is being dealt with.
    pub fn proceeding(&mut self, h245_address: Option<SocketAddr>) -> Vec<u8> {
        self.state = State::Proceeding;
        let body = Body::callProceeding(
            CallProceedingUUIE::required(protocol_identifier(), endpoint_type())
                .with_h245_address(h245_address.map(transport))
                .with_call_identifier(self.call_identifier.clone())
                .with_multiple_calls(false)
                .with_maintain_connection(false),
        );
        self.message(MessageType::CallProceeding, body, |_| {})
    }

    pub fn alerting(&mut self) -> Vec<u8> {
        self.state = State::Received;
        let body = Body::alerting(
            AlertingUUIE::required(protocol_identifier(), endpoint_type())
                .with_call_identifier(self.call_identifier.clone())
                .with_multiple_calls(false)
                .with_maintain_connection(false),
        );
        self.message(MessageType::Alerting, body, |_| {})
    }

    /// Connect: the call is answered, with our fast-start answers (the
    /// accepted channels, encoded OpenLogicalChannel) and H.245 address.
    pub fn connect(
        &mut self,
        fast_start: Vec<Vec<u8>>,
        h245_address: Option<SocketAddr>,
        display: &str,
    ) -> Vec<u8> {
        self.state = State::Active;
        let body = Body::connect(
            ConnectUUIE::required(
                protocol_identifier(),
                endpoint_type(),
                self.conference_id.clone().expect("connect follows a Setup"),
            )
            .with_h245_address(h245_address.map(transport))
            .with_call_identifier(self.call_identifier.clone())
            .with_fast_start(
                (!fast_start.is_empty())
                    .then(|| fast_start.into_iter().map(OctetString::from).collect()),
            )
            .with_multiple_calls(false)
            .with_maintain_connection(false),
        );
        self.message(MessageType::Connect, body, |m| {
            m.set_display(display);
        })
    }

    /// Queues H.245 messages for the tunnel; returns a Facility carrying
    /// them (when tunnelling).
    pub fn tunnel(&mut self, h245: Vec<u8>) -> Option<Vec<u8>> {
        if !self.tunnelling || self.state == State::Released {
            return None;
        }
        self.h245_out.push(h245);
        let body = Body::facility(
            FacilityUUIE::required(protocol_identifier(), FacilityReason::undefinedReason(()))
                .with_call_identifier(self.call_identifier.clone())
                .with_multiple_calls(false)
                .with_maintain_connection(false),
        );
        Some(self.message(MessageType::Facility, body, |_| {}))
    }

    /// ReleaseComplete with a Q.931 cause and an H.225 reason.
    pub fn release(&mut self, cause: u8, reason: ReleaseCompleteReason) -> Vec<u8> {
        self.state = State::Released;
        let body = Body::releaseComplete(
            ReleaseCompleteUUIE::required(protocol_identifier())
                .with_reason(reason)
                .with_call_identifier(self.call_identifier.clone()),
        );
        self.message(MessageType::ReleaseComplete, body, |m| {
            m.set_cause(cause);
        })
    }

    /// Status: our call state and `cause`.
    fn status(&mut self, cause: u8) -> Vec<u8> {
        let mut m = Q931::new(MessageType::Status, self.call_ref, !self.we_called);
        m.set_cause(cause)
            .set(ie::CALL_STATE, vec![self.state.code()]);
        if let Some(id) = self.call_identifier.clone() {
            let body = Body::status(StatusUUIE::required(protocol_identifier(), id));
            if let Some(per) = self.user_info(body) {
                m.set_user_user(&per);
            }
        }
        m.encode()
    }

    fn user_info(&mut self, body: Body) -> Option<Vec<u8>> {
        let h245 = std::mem::take(&mut self.h245_out);
        let pdu = H323UUPDU::required(body)
            .with_h245_tunnelling(self.tunnelling)
            .with_h245_control(
                (!h245.is_empty()).then(|| h245.into_iter().map(OctetString::from).collect()),
            );
        h323_asn1::encode(&H323UserInformation::new(pdu, None)).ok()
    }

    fn message(&mut self, kind: MessageType, body: Body, extra: impl FnOnce(&mut Q931)) -> Vec<u8> {
        let mut m = Q931::new(kind, self.call_ref, !self.we_called);
        extra(&mut m);
        if let Some(per) = self.user_info(body) {
            m.set_user_user(&per);
        }
        m.encode()
    }
}

/// Bearer capability of an H.323 call: unrestricted digital information,
/// packet mode, H.221/H.242 (as H.225.0 7.2.2.1 asks).
const BEARER_H221: [u8; 3] = [0x88, 0xc0, 0xa5];

/// What the called room's answer carried.
fn progress(kind: MessageType, pdu: Option<H323UUPDU>) -> CalleeProgress {
    let (fast_start, h245_address) = match pdu.as_ref().map(|p| &p.h323_message_body) {
        Some(Body::callProceeding(m)) => (m.fast_start.clone(), m.h245_address.clone()),
        Some(Body::alerting(m)) => (m.fast_start.clone(), m.h245_address.clone()),
        Some(Body::progress(m)) => (m.fast_start.clone(), m.h245_address.clone()),
        Some(Body::connect(m)) => (m.fast_start.clone(), m.h245_address.clone()),
        _ => (None, None),
    };
    CalleeProgress {
        ringing: kind == MessageType::Alerting,
        connected: kind == MessageType::Connect,
        fast_start: fast_start
            .into_iter()
            .flatten()
            .map(|o| o.to_vec())
            .collect(),
        h245_address: h245_address.as_ref().and_then(socket_addr),
        h245_tunnelling: pdu.is_some_and(|p| p.h245_tunnelling == Some(true)),
    }
}

/// The Setup's dial string, caller and media proposals.
/// A call's identity in hex, as RAS and call signalling both name it:
/// its callIdentifier (H.225.0 v3 and later), else its conferenceID.
pub fn call_identity(
    call: Option<&CallIdentifier>,
    conference: Option<&ConferenceIdentifier>,
) -> String {
    let guid = match (call, conference) {
        (Some(c), _) => &c.guid.0,
        (None, Some(c)) => &c.0 .0,
        (None, None) => return String::new(),
    };
    guid.iter().map(|b| format!("{b:02x}")).collect()
}

fn incoming(q931: &Q931, setup: &SetupUUIE, tunnelling: bool) -> IncomingSetup {
    let aliases: Vec<String> = setup
        .destination_address
        .iter()
        .flatten()
        .filter_map(alias_text)
        .collect();
    let dial = aliases
        .into_iter()
        .find(|a| !a.is_empty())
        .or_else(|| q931.called_number());
    let source_aliases: Vec<String> = setup
        .source_address
        .iter()
        .flatten()
        .filter_map(alias_text)
        .collect();
    let caller = q931
        .display()
        .filter(|d| !d.is_empty())
        .or_else(|| source_aliases.first().cloned())
        .unwrap_or_else(|| "H.323 room".to_owned());
    IncomingSetup {
        dial,
        caller,
        source_aliases,
        fast_start: setup
            .fast_start
            .iter()
            .flatten()
            .map(|o| o.to_vec())
            .collect(),
        h245_tunnelling: tunnelling,
        h245_address: setup.h245_address.as_ref().and_then(socket_addr),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(call: &mut H225Call, m: &Q931) -> (Vec<Event>, Vec<Q931>) {
        let (events, replies) = call.receive(&m.encode());
        (
            events,
            replies.iter().map(|r| Q931::parse(r).unwrap()).collect(),
        )
    }

    #[test]
    fn status_enquiry_keypad_unknown_and_garbage_keep_the_call() {
        let mut call = H225Call::new();
        let (_, replies) = read(&mut call, &Q931::new(MessageType::StatusEnquiry, 5, false));
        assert_eq!(replies[0].kind, MessageType::Status);
        assert_eq!(replies[0].cause(), Some(cause::STATUS_ENQUIRY));
        assert_eq!(replies[0].element(ie::CALL_STATE), Some(&[0][..]));

        let mut info = Q931::new(MessageType::Information, 5, false);
        info.set(ie::KEYPAD, b"12#".to_vec());
        let (events, replies) = read(&mut call, &info);
        assert!(matches!(&events[..], [Event::Digits(d)] if d == "12#"));
        assert!(replies.is_empty());

        let (_, replies) = read(&mut call, &Q931::new(MessageType::Other(0x60), 5, false));
        assert_eq!(
            replies[0].cause(),
            Some(cause::MESSAGE_TYPE_NOT_IMPLEMENTED)
        );

        let (events, replies) = call.receive(&[0x08, 0x02, 0x00]);
        assert!(events.is_empty());
        assert_eq!(
            Q931::parse(&replies[0]).unwrap().cause(),
            Some(cause::INVALID_MESSAGE)
        );
        let mut bad_uu = Q931::new(MessageType::Facility, 5, false);
        bad_uu.set_user_user(&[0xff, 0xff]);
        let (_, replies) = read(&mut call, &bad_uu);
        assert_eq!(replies[0].cause(), Some(cause::INVALID_IE_CONTENTS));
        assert!(!call.is_released());

        let mut rc = Q931::new(MessageType::ReleaseComplete, 5, false);
        rc.set_cause(cause::NORMAL_CLEARING);
        let (events, _) = read(&mut call, &rc);
        assert!(matches!(events[..], [Event::Released(Some(16))]));
        assert!(call.is_released());
    }

    #[test]
    fn a_setup_without_user_information_is_released_with_a_cause() {
        let mut call = H225Call::new();
        let (events, replies) = read(&mut call, &Q931::new(MessageType::Setup, 9, false));
        assert!(events.is_empty());
        assert_eq!(replies[0].kind, MessageType::ReleaseComplete);
        assert_eq!(replies[0].call_ref, 9);
        assert!(replies[0].from_destination);
        assert_eq!(replies[0].cause(), Some(cause::MANDATORY_IE_MISSING));
        assert!(call.is_released());
    }
}
