//! Q.931 messages as H.225.0 uses them for call signalling: protocol
//! discriminator 8, a 2-octet call reference with its flag, a message type
//! and information elements, the User-user IE (with H.225.0's 2-octet
//! length) carrying the PER-encoded H323-UserInformation. Parsing keeps
//! every IE as it came (unknown ones included); typed accessors read the
//! few that calls need.

use thiserror::Error;

const DISCRIMINATOR: u8 = 0x08;
/// User information protocol discriminator "X.208/X.209 coded user info".
const USER_INFO_PER: u8 = 0x05;

/// Q.931 message types H.225.0 uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    Alerting,
    CallProceeding,
    Progress,
    Setup,
    Connect,
    SetupAcknowledge,
    ConnectAcknowledge,
    ReleaseComplete,
    Facility,
    Notify,
    StatusEnquiry,
    Information,
    Status,
    Other(u8),
}

impl MessageType {
    pub fn code(self) -> u8 {
        match self {
            MessageType::Alerting => 0x01,
            MessageType::CallProceeding => 0x02,
            MessageType::Progress => 0x03,
            MessageType::Setup => 0x05,
            MessageType::Connect => 0x07,
            MessageType::SetupAcknowledge => 0x0d,
            MessageType::ConnectAcknowledge => 0x0f,
            MessageType::ReleaseComplete => 0x5a,
            MessageType::Facility => 0x62,
            MessageType::Notify => 0x6e,
            MessageType::StatusEnquiry => 0x75,
            MessageType::Information => 0x7b,
            MessageType::Status => 0x7d,
            MessageType::Other(c) => c,
        }
    }

    pub fn from_code(code: u8) -> MessageType {
        [
            MessageType::Alerting,
            MessageType::CallProceeding,
            MessageType::Progress,
            MessageType::Setup,
            MessageType::Connect,
            MessageType::SetupAcknowledge,
            MessageType::ConnectAcknowledge,
            MessageType::ReleaseComplete,
            MessageType::Facility,
            MessageType::Notify,
            MessageType::StatusEnquiry,
            MessageType::Information,
            MessageType::Status,
        ]
        .into_iter()
        .find(|t| t.code() == code)
        .unwrap_or(MessageType::Other(code))
    }
}

/// Information element identifiers read or written here.
pub mod ie {
    pub const BEARER_CAPABILITY: u8 = 0x04;
    pub const CAUSE: u8 = 0x08;
    pub const CALL_STATE: u8 = 0x14;
    pub const PROGRESS_INDICATOR: u8 = 0x1e;
    pub const NOTIFICATION_INDICATOR: u8 = 0x27;
    pub const DISPLAY: u8 = 0x28;
    pub const KEYPAD: u8 = 0x2c;
    pub const SIGNAL: u8 = 0x34;
    pub const CALLING_PARTY_NUMBER: u8 = 0x6c;
    pub const CALLED_PARTY_NUMBER: u8 = 0x70;
    pub const USER_USER: u8 = 0x7e;
}

/// Why a message could not be read; with the Q.931 cause to answer with.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum Q931Error {
    #[error("message too short")]
    Truncated,
    #[error("protocol discriminator {0:#04x}, expected 0x08")]
    Discriminator(u8),
    #[error("call reference length {0}")]
    CallReference(u8),
    #[error("information element {0:#04x} runs past the end")]
    Element(u8),
}

impl Q931Error {
    /// Q.931 cause value for a Status / Release Complete answer.
    pub fn cause(&self) -> u8 {
        match self {
            Q931Error::Element(_) => cause::INVALID_IE_CONTENTS,
            _ => cause::INVALID_MESSAGE,
        }
    }
}

/// Q.931 cause values used in answers.
pub mod cause {
    pub const UNALLOCATED_NUMBER: u8 = 1;
    pub const NORMAL_CLEARING: u8 = 16;
    pub const USER_BUSY: u8 = 17;
    pub const NO_ANSWER: u8 = 19;
    pub const CALL_REJECTED: u8 = 21;
    pub const STATUS_ENQUIRY: u8 = 30;
    pub const NORMAL_UNSPECIFIED: u8 = 31;
    pub const TEMPORARY_FAILURE: u8 = 41;
    pub const RESOURCE_UNAVAILABLE: u8 = 47;
    pub const INCOMPATIBLE_DESTINATION: u8 = 88;
    pub const INVALID_MESSAGE: u8 = 95;
    pub const MANDATORY_IE_MISSING: u8 = 96;
    pub const MESSAGE_TYPE_NOT_IMPLEMENTED: u8 = 97;
    pub const INVALID_IE_CONTENTS: u8 = 100;
    pub const STATE_INCOMPATIBLE: u8 = 101;
    pub const RECOVERY_ON_TIMER_EXPIRY: u8 = 102;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub id: u8,
    /// Contents (empty for single-octet elements).
    pub value: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Q931 {
    /// Call reference value (15 bits).
    pub call_ref: u16,
    /// The call reference flag: set in messages sent by the side that did
    /// not originate the call reference.
    pub from_destination: bool,
    pub kind: MessageType,
    pub elements: Vec<Element>,
}

impl Q931 {
    pub fn new(kind: MessageType, call_ref: u16, from_destination: bool) -> Q931 {
        Q931 {
            call_ref,
            from_destination,
            kind,
            elements: Vec::new(),
        }
    }

    pub fn parse(bytes: &[u8]) -> Result<Q931, Q931Error> {
        let (&discriminator, rest) = bytes.split_first().ok_or(Q931Error::Truncated)?;
        if discriminator != DISCRIMINATOR {
            return Err(Q931Error::Discriminator(discriminator));
        }
        let (&ref_len, rest) = rest.split_first().ok_or(Q931Error::Truncated)?;
        let ref_len = ref_len & 0x0f;
        if ref_len > 2 {
            return Err(Q931Error::CallReference(ref_len));
        }
        let ref_len = usize::from(ref_len);
        if rest.len() < ref_len + 1 {
            return Err(Q931Error::Truncated);
        }
        let (call_ref, from_destination) = match rest[..ref_len] {
            [a, b] => (u16::from_be_bytes([a & 0x7f, b]), a & 0x80 != 0),
            [a] => (u16::from(a & 0x7f), a & 0x80 != 0),
            _ => (0, false),
        };
        let kind = MessageType::from_code(rest[ref_len]);
        let mut elements = Vec::new();
        let mut rest = &rest[ref_len + 1..];
        while let Some((&id, after)) = rest.split_first() {
            if id & 0x80 != 0 {
                elements.push(Element {
                    id,
                    value: Vec::new(),
                });
                rest = after;
                continue;
            }
            let (len, after) = if id == ie::USER_USER {
                match after {
                    [a, b, tail @ ..] => (usize::from(u16::from_be_bytes([*a, *b])), tail),
                    _ => return Err(Q931Error::Element(id)),
                }
            } else {
                match after.split_first() {
                    Some((&l, tail)) => (usize::from(l), tail),
                    None => return Err(Q931Error::Element(id)),
                }
            };
            if after.len() < len {
                return Err(Q931Error::Element(id));
            }
            elements.push(Element {
                id,
                value: after[..len].to_vec(),
            });
            rest = &after[len..];
        }
        Ok(Q931 {
            call_ref,
            from_destination,
            kind,
            elements,
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![DISCRIMINATOR, 2];
        let [hi, lo] = self.call_ref.to_be_bytes();
        out.push((hi & 0x7f) | if self.from_destination { 0x80 } else { 0 });
        out.push(lo);
        out.push(self.kind.code());
        for e in &self.elements {
            out.push(e.id);
            if e.id & 0x80 != 0 {
                continue;
            }
            let value = if e.id == ie::USER_USER {
                let v = &e.value[..e.value.len().min(0xffff)];
                out.extend_from_slice(&(v.len() as u16).to_be_bytes());
                v
            } else {
                let v = &e.value[..e.value.len().min(0xff)];
                out.push(v.len() as u8);
                v
            };
            out.extend_from_slice(value);
        }
        out
    }

    pub fn element(&self, id: u8) -> Option<&[u8]> {
        self.elements
            .iter()
            .find(|e| e.id == id)
            .map(|e| e.value.as_slice())
    }

    /// Sets (replaces) an element, keeping identifiers in ascending order
    /// as Q.931 wants them.
    pub fn set(&mut self, id: u8, value: Vec<u8>) -> &mut Q931 {
        self.elements.retain(|e| e.id != id);
        let at = self
            .elements
            .iter()
            .position(|e| e.id > id)
            .unwrap_or(self.elements.len());
        self.elements.insert(at, Element { id, value });
        self
    }

    /// The PER-encoded H323-UserInformation of the User-user element.
    pub fn user_user(&self) -> Option<&[u8]> {
        match self.element(ie::USER_USER)? {
            [USER_INFO_PER, per @ ..] => Some(per),
            _ => None,
        }
    }

    pub fn set_user_user(&mut self, per: &[u8]) -> &mut Q931 {
        self.set(ie::USER_USER, [&[USER_INFO_PER], per].concat())
    }

    /// Digits of the Called party number.
    pub fn called_number(&self) -> Option<String> {
        party_number(self.element(ie::CALLED_PARTY_NUMBER)?)
    }

    pub fn calling_number(&self) -> Option<String> {
        party_number(self.element(ie::CALLING_PARTY_NUMBER)?)
    }

    /// Sets a party number as "unknown type, ISDN/telephony numbering plan".
    pub fn set_party_number(&mut self, id: u8, digits: &str) -> &mut Q931 {
        let mut value = vec![0x81];
        value.extend(digits.bytes().filter(u8::is_ascii_graphic));
        self.set(id, value)
    }

    pub fn display(&self) -> Option<String> {
        let v = self.element(ie::DISPLAY)?;
        // Some stacks lead with a character-set octet (bit 8 set).
        let text = match v {
            [first, rest @ ..] if first & 0x80 != 0 => rest,
            _ => v,
        };
        Some(
            String::from_utf8_lossy(text)
                .trim_end_matches('\0')
                .to_owned(),
        )
    }

    pub fn set_display(&mut self, name: &str) -> &mut Q931 {
        let text: Vec<u8> = name
            .bytes()
            .filter(|b| (0x20..0x7f).contains(b))
            .take(80)
            .collect();
        self.set(ie::DISPLAY, text)
    }

    /// The cause value (without the coding and location octet).
    pub fn cause(&self) -> Option<u8> {
        let v = self.element(ie::CAUSE)?;
        // Octet 3 (coding, location), octet 3a if its extension bit is 0.
        let at = if v.first()? & 0x80 != 0 { 1 } else { 2 };
        v.get(at).map(|c| c & 0x7f)
    }

    /// Sets the cause: ITU-T coding, location "user".
    pub fn set_cause(&mut self, value: u8) -> &mut Q931 {
        self.set(ie::CAUSE, vec![0x80, 0x80 | (value & 0x7f)])
    }

    /// Digits of a Keypad facility element (overlap/DTMF digits).
    pub fn keypad(&self) -> Option<String> {
        Some(String::from_utf8_lossy(self.element(ie::KEYPAD)?).into_owned())
    }
}

fn party_number(v: &[u8]) -> Option<String> {
    // Octet 3 (type and plan); octet 3a (presentation) if its ext bit is 0.
    let at = if v.first()? & 0x80 != 0 { 1 } else { 2 };
    let digits = String::from_utf8_lossy(v.get(at..)?).into_owned();
    (!digits.is_empty()).then_some(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_built_message_reads_back() {
        let mut m = Q931::new(MessageType::ReleaseComplete, 0x1234, true);
        m.set_cause(cause::NORMAL_CLEARING)
            .set_display("Board room")
            .set_party_number(ie::CALLED_PARTY_NUMBER, "123456789")
            .set_user_user(&[0x25, 0x80]);
        let bytes = m.encode();
        assert_eq!(&bytes[..5], [0x08, 0x02, 0x92, 0x34, 0x5a]);
        let back = Q931::parse(&bytes).unwrap();
        assert_eq!(back.call_ref, 0x1234);
        assert!(back.from_destination);
        assert_eq!(back.kind, MessageType::ReleaseComplete);
        assert_eq!(back.cause(), Some(cause::NORMAL_CLEARING));
        assert_eq!(back.display().as_deref(), Some("Board room"));
        assert_eq!(back.called_number().as_deref(), Some("123456789"));
        assert_eq!(back.user_user(), Some(&[0x25, 0x80][..]));
        assert_eq!(back.encode(), bytes);
    }

    #[test]
    fn truncated_and_foreign_messages_are_refused_with_a_cause() {
        assert_eq!(Q931::parse(&[]), Err(Q931Error::Truncated));
        assert_eq!(
            Q931::parse(&[0x09, 2, 0, 1, 5]),
            Err(Q931Error::Discriminator(9))
        );
        assert_eq!(
            Q931::parse(&[8, 3, 0, 0, 0, 5]),
            Err(Q931Error::CallReference(3))
        );
        let cut = Q931::parse(&[8, 2, 0, 1, 5, ie::DISPLAY, 9, b'a']).unwrap_err();
        assert_eq!(cut, Q931Error::Element(ie::DISPLAY));
        assert_eq!(cut.cause(), cause::INVALID_IE_CONTENTS);
        let uu = Q931::parse(&[8, 2, 0, 1, 5, ie::USER_USER, 0]).unwrap_err();
        assert_eq!(uu, Q931Error::Element(ie::USER_USER));
    }

    #[test]
    fn single_octet_and_unknown_elements_are_kept() {
        let bytes = [8, 2, 0, 7, 0x7b, 0xa1, 0x2c, 2, b'4', b'#', 0x55, 1, 9];
        let m = Q931::parse(&bytes).unwrap();
        assert_eq!(m.kind, MessageType::Information);
        assert_eq!(m.keypad().as_deref(), Some("4#"));
        assert_eq!(m.element(0xa1), Some(&[][..]));
        assert_eq!(m.element(0x55), Some(&[9][..]));
        assert_eq!(m.encode(), bytes);
    }
}
