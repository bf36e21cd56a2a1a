//! A meeting as the directory stores it, and the rules its fields obey.

use media_api::layout::MeetingLayout;
use media_api::Encryption;
use serde::{Deserialize, Serialize};

/// Longest meeting number, password or PIN accepted (digits).
pub const MAX_DIGITS: usize = 20;

/// A meeting in the directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meeting {
    /// Digits that rooms dial (`123456789`).
    pub number: String,
    /// Digits asked of every participant, if set.
    pub password: Option<String>,
    /// Digits that make a participant host, if set.
    pub host_pin: Option<String>,
    /// Human name shown to participants.
    pub name: String,
    /// A locked meeting admits nobody new.
    pub locked: bool,
    /// Its layout and polling (`layout`, `polling_seconds`).
    #[serde(flatten)]
    pub layout: MeetingLayout,
    /// `required`: only encrypted rooms are admitted (None: the
    /// installation's and room accounts' policies decide).
    #[serde(default)]
    pub encryption: Option<Encryption>,
}

impl Meeting {
    /// Whether it admits only encrypted rooms.
    pub fn requires_encryption(&self) -> bool {
        self.encryption == Some(Encryption::Required)
    }
}

/// What an operator supplies to create a meeting.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct NewMeeting {
    pub number: String,
    pub password: Option<String>,
    pub host_pin: Option<String>,
    pub name: Option<String>,
    #[serde(default)]
    pub locked: bool,
    #[serde(flatten)]
    pub layout: MeetingLayout,
    #[serde(default)]
    pub encryption: Option<Encryption>,
}

/// Why a meeting definition is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MeetingError {
    #[error("{field} must be 1 to {MAX_DIGITS} digits (0-9), got {value:?}")]
    NotDigits { field: &'static str, value: String },
    #[error("meeting number must not be 0: dialing 0 reaches the IVR")]
    ZeroNumber,
    #[error("name must be at most 128 characters")]
    NameTooLong,
    #[error("{0}")]
    Layout(String),
    #[error("encryption: a meeting can require it (\"required\") or leave it to the installation (null); it cannot loosen what rooms agreed before they reached it")]
    Encryption,
}

fn check_digits(field: &'static str, value: &str) -> Result<(), MeetingError> {
    if value.is_empty() || value.len() > MAX_DIGITS || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(MeetingError::NotDigits {
            field,
            value: value.to_owned(),
        });
    }
    Ok(())
}

/// A meeting's own encryption policy: `required`, or none.
pub fn check_encryption(encryption: Option<Encryption>) -> Result<(), MeetingError> {
    match encryption {
        None | Some(Encryption::Required) => Ok(()),
        Some(_) => Err(MeetingError::Encryption),
    }
}

impl NewMeeting {
    /// Checks every field and returns the meeting to store.
    pub fn validate(self) -> Result<Meeting, MeetingError> {
        check_digits("number", &self.number)?;
        if self.number.bytes().all(|b| b == b'0') {
            return Err(MeetingError::ZeroNumber);
        }
        let password = self.password.filter(|p| !p.is_empty());
        if let Some(p) = &password {
            check_digits("password", p)?;
        }
        let host_pin = self.host_pin.filter(|p| !p.is_empty());
        if let Some(p) = &host_pin {
            check_digits("host_pin", p)?;
        }
        let name = self
            .name
            .unwrap_or_else(|| format!("Meeting {}", self.number));
        if name.chars().count() > 128 {
            return Err(MeetingError::NameTooLong);
        }
        self.layout.check().map_err(MeetingError::Layout)?;
        check_encryption(self.encryption)?;
        Ok(Meeting {
            number: self.number,
            password,
            host_pin,
            name,
            locked: self.locked,
            layout: self.layout,
            encryption: self.encryption,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(number: &str, password: Option<&str>) -> NewMeeting {
        NewMeeting {
            number: number.into(),
            password: password.map(Into::into),
            ..Default::default()
        }
    }

    #[test]
    fn accepts_digits_and_defaults_the_name() {
        let m = new("123456789", Some("4321")).validate().unwrap();
        assert_eq!(m.name, "Meeting 123456789");
        assert_eq!(m.password.as_deref(), Some("4321"));
    }

    #[test]
    fn refuses_non_digits_zero_and_long_values() {
        assert!(matches!(
            new("12a", None).validate(),
            Err(MeetingError::NotDigits { .. })
        ));
        assert_eq!(new("000", None).validate(), Err(MeetingError::ZeroNumber));
        assert!(new(&"1".repeat(21), None).validate().is_err());
        assert!(new("1", Some("12*")).validate().is_err());
    }

    #[test]
    fn a_meeting_may_require_encryption_but_not_loosen_it() {
        let with = |encryption| NewMeeting {
            encryption,
            ..new("5", None)
        };
        let required = with(Some(Encryption::Required)).validate().unwrap();
        assert!(required.requires_encryption());
        assert!(!with(None).validate().unwrap().requires_encryption());
        assert_eq!(
            with(Some(Encryption::Off)).validate(),
            Err(MeetingError::Encryption)
        );
    }

    #[test]
    fn empty_password_means_none() {
        assert_eq!(new("5", Some("")).validate().unwrap().password, None);
    }
}
