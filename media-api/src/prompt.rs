//! What the IVR can ask media to say.

use serde::{Deserialize, Serialize};

/// The prompts the IVR can say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Prompt {
    Welcome,
    EnterNumber,
    EnterPassword,
    UnknownMeeting,
    WrongPassword,
    NoInput,
    Locked,
    Full,
    Joining,
    Goodbye,
}
