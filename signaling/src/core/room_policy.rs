//! Room accounts' own settings that shape their calls, by the names the
//! room goes by (a SIP user, H.323 aliases): a call rate and an
//! encryption policy. A call's encryption policy is its room account's
//! when it has one, else the installation's; a meeting that requires
//! encryption requires it whatever those say.

use std::collections::HashMap;

use media_api::Encryption;

use super::edges::Edges;

/// What a room account sets for itself (None: the installation's).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoomPolicy {
    /// Audio and video together, kbit/s.
    pub max_call_rate_kbps: Option<u32>,
    pub encryption: Option<Encryption>,
}

/// Room accounts with settings of their own: user → settings.
pub type RoomPolicies = HashMap<String, RoomPolicy>;

/// The encryption a call is held to: the room account's policy if it
/// has one, else the installation's; `Required` when its meeting
/// requires it.
pub fn encryption(
    installation: Encryption,
    room: Option<Encryption>,
    meeting_requires: bool,
) -> Encryption {
    if meeting_requires {
        Encryption::Required
    } else {
        room.unwrap_or(installation)
    }
}

impl Edges {
    /// The settings of the room known by any of `names`, when its
    /// account has some.
    pub(super) fn room_policy<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> RoomPolicy {
        names
            .into_iter()
            .find_map(|n| self.room_policies.get(n).copied())
            .unwrap_or_default()
    }

    /// The encryption a call with a room of `policy` is held to, before
    /// its meeting is known.
    pub(super) fn encryption_of(&self, policy: RoomPolicy) -> Encryption {
        encryption(self.cfg.encryption, policy.encryption, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_room_account_overrides_the_installation_and_a_meeting_can_only_require() {
        use Encryption::*;
        assert_eq!(encryption(Optional, None, false), Optional);
        assert_eq!(encryption(Required, Some(Optional), false), Optional);
        assert_eq!(encryption(Optional, Some(Required), false), Required);
        assert_eq!(encryption(Optional, Some(Off), true), Required);
        assert_eq!(encryption(Off, None, true), Required);
    }
}
