//! Whether calls are encrypted: the policy of the installation
//! (`media.encryption`), and of a room account or a meeting where they
//! set their own.

use serde::{Deserialize, Serialize};

/// Whether calls are encrypted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encryption {
    /// Whenever the room offers SRTP (DTLS-SRTP, or SDES over TLS).
    #[default]
    Optional,
    /// Only encrypted calls are taken (488, or securityDenied, for the
    /// others).
    Required,
    /// Never: offers of SRTP alone are refused, best-effort ones taken in
    /// clear.
    Off,
}

impl Encryption {
    pub fn name(self) -> &'static str {
        match self {
            Encryption::Optional => "optional",
            Encryption::Required => "required",
            Encryption::Off => "off",
        }
    }

    pub fn from_name(name: &str) -> Option<Encryption> {
        [Encryption::Optional, Encryption::Required, Encryption::Off]
            .into_iter()
            .find(|e| e.name() == name)
    }
}
