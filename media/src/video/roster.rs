//! Who is in each meeting of a video worker, by participant id: the name
//! the others see and whether its microphone is muted (from the meeting
//! service's roster), for tile labels and name cards.

use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    pub name: String,
    pub muted: bool,
}

#[derive(Default)]
pub(crate) struct Roster(HashMap<Arc<str>, HashMap<String, Member>>);

impl Roster {
    /// Sets (None: removes) a member; returns what it was.
    pub fn set(
        &mut self,
        meeting: &Arc<str>,
        participant: &str,
        member: Option<Member>,
    ) -> Option<Member> {
        match member {
            Some(member) => self
                .0
                .entry(meeting.clone())
                .or_default()
                .insert(participant.to_owned(), member),
            None => {
                let members = self.0.get_mut(&**meeting)?;
                let old = members.remove(participant);
                if members.is_empty() {
                    self.0.remove(&**meeting);
                }
                old
            }
        }
    }

    pub fn get(&self, meeting: &str, participant: &str) -> Option<&Member> {
        self.0.get(meeting)?.get(participant)
    }

    /// The members of `meeting`, by participant id.
    pub fn members(&self, meeting: &str) -> impl Iterator<Item = &str> {
        self.0
            .get(meeting)
            .into_iter()
            .flat_map(|m| m.keys().map(String::as_str))
    }
}
