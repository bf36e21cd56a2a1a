//! Who a room sees in which tile, sans-IO. A meeting keeps its speakers
//! in order (most recent first; the audio workers' detectors already hold
//! a new speaker back until it is clearly louder for 300 ms) and, when
//! polling is on, turns the small tiles every period. The meeting's
//! picture shows its candidates (participants with a camera, and those
//! without one once they have spoken, as name cards) speakers first, the
//! big tiles to the latest speakers; a room that the meeting's picture
//! shows sees the same picture made without itself. Rooms that are not
//! in it share the meeting's picture, so a meeting needs at most one
//! picture more than the rooms it shows.

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use media_api::layout::{Layout, MeetingLayout, CYCLE};

use super::router::SourceId;

/// What a tile shows.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Shows {
    /// A participant's camera.
    Camera(SourceId),
    /// The name card of this participant, who sends no video.
    Card(String),
}

/// A participant that could be shown: its id and camera, if it has one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Candidate<'a> {
    pub participant: &'a str,
    pub camera: Option<SourceId>,
}

/// A picture: its layout (resolved) and what each tile shows, big tiles
/// first.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Scene {
    pub layout: Layout,
    pub tiles: Vec<Shows>,
}

/// A meeting's layout settings, speaker order and polling.
#[derive(Debug, Default)]
pub(crate) struct Presence {
    pub settings: MeetingLayout,
    /// Who spoke, most recent first.
    speakers: Vec<String>,
    /// How many times polling turned the small tiles.
    turns: usize,
    turned_at: Option<Instant>,
}

impl Presence {
    /// `participant` is now the speaker; true if the order changed.
    pub fn spoke(&mut self, participant: &str) -> bool {
        if self.speakers.first().is_some_and(|s| s == participant) {
            return false;
        }
        self.speakers.retain(|s| s != participant);
        self.speakers.insert(0, participant.to_owned());
        true
    }

    /// Whether `participant` has spoken.
    pub fn has_spoken(&self, participant: &str) -> bool {
        self.speakers.iter().any(|s| s == participant)
    }

    /// `participant` left the meeting.
    pub fn left(&mut self, participant: &str) {
        self.speakers.retain(|s| s != participant);
    }

    /// Turns the small tiles when the polling period has passed; true if
    /// it did.
    pub fn tick(&mut self, now: Instant) -> bool {
        let Some(period) = self.settings.polling_seconds else {
            self.turned_at = None;
            return false;
        };
        let period = Duration::from_secs(period.into());
        match self.turned_at {
            Some(at) if now.saturating_duration_since(at) >= period => {
                self.turns += 1;
                self.turned_at = Some(now);
                true
            }
            Some(_) => false,
            None => {
                self.turned_at = Some(now);
                false
            }
        }
    }

    /// What `viewer` sees of `candidates` in `layout` (its own, its
    /// meeting's or the installation's).
    pub fn scene(&self, layout: Layout, candidates: &[Candidate], viewer: &str) -> Scene {
        let mut all: Vec<Candidate> = candidates.to_vec();
        // Speakers by recency, then the rest by camera (those first: a card
        // is only shown for someone who spoke).
        all.sort_by_key(|c| {
            let spoke = self.speakers.iter().position(|s| s == c.participant);
            (
                spoke.unwrap_or(usize::MAX),
                c.camera.unwrap_or(SourceId::MAX),
            )
        });
        // Every room sees the others: the layout automatic picks is the
        // same for all, so rooms outside the picture share it.
        let layout = layout.resolve(all.len().saturating_sub(1));
        let tiles = layout.tiles().len();
        let meeting = self.fill(&all, layout, tiles);
        let shown = meeting.iter().any(|c| c.participant == viewer);
        let chosen = if shown {
            all.retain(|c| c.participant != viewer);
            self.fill(&all, layout, tiles)
        } else {
            meeting
        };
        Scene {
            layout,
            tiles: chosen
                .into_iter()
                .map(|c| match c.camera {
                    Some(id) => Shows::Camera(id),
                    None => Shows::Card(c.participant.to_owned()),
                })
                .collect(),
        }
    }

    /// The candidates (in order) shown in `tiles` tiles: the first in the
    /// big tiles; then, if more remain than fit, the latest speakers in
    /// up to half the small tiles and, with polling, the others in turn.
    fn fill<'a>(&self, all: &[Candidate<'a>], layout: Layout, tiles: usize) -> Vec<Candidate<'a>> {
        if all.len() <= tiles {
            return all.to_vec();
        }
        let big = layout.big_tiles().min(tiles);
        let small = tiles - big;
        let rest = &all[big..];
        if self.settings.polling_seconds.is_none() {
            return all[..tiles].to_vec();
        }
        let pinned = rest
            .iter()
            .take(small / 2)
            .take_while(|c| self.has_spoken(c.participant))
            .count();
        let pool = &rest[pinned..];
        let window = small - pinned;
        let start = self.turns * window % pool.len();
        let mut shown = all[..big + pinned].to_vec();
        shown.extend(pool.iter().cycle().skip(start).take(window));
        shown
    }
}

/// The layout in force for a room (resolved), shared by its video worker
/// with its media worker for the call's stats.
#[derive(Debug, Default)]
pub(crate) struct ShownLayout(AtomicU8);

impl ShownLayout {
    pub fn set(&self, layout: Option<Layout>) {
        let code = layout.and_then(|l| CYCLE.iter().position(|&c| c == l));
        self.0
            .store(code.map_or(0, |c| c as u8 + 1), Ordering::Relaxed);
    }

    pub fn get(&self) -> Option<Layout> {
        let code = self.0.load(Ordering::Relaxed);
        CYCLE.get(usize::from(code.checked_sub(1)?)).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cameras(names: &[&'static str]) -> Vec<Candidate<'static>> {
        names
            .iter()
            .enumerate()
            .map(|(i, &participant)| Candidate {
                participant,
                camera: Some(i as SourceId + 1),
            })
            .collect()
    }

    fn names(scene: &Scene, all: &[Candidate]) -> Vec<String> {
        scene
            .tiles
            .iter()
            .map(|t| match t {
                Shows::Camera(id) => all
                    .iter()
                    .find(|c| c.camera == Some(*id))
                    .unwrap()
                    .participant
                    .to_owned(),
                Shows::Card(p) => format!("card {p}"),
            })
            .collect()
    }

    #[test]
    fn the_layout_in_force_is_shared_as_one_byte() {
        let shown = ShownLayout::default();
        assert_eq!(shown.get(), None);
        for layout in CYCLE {
            shown.set(Some(layout));
            assert_eq!(shown.get(), Some(layout));
        }
        shown.set(None);
        assert_eq!(shown.get(), None);
    }

    #[test]
    fn the_speaker_takes_the_big_tile_and_nobody_sees_itself() {
        let all = cameras(&["a", "b", "c", "d"]);
        let mut meeting = Presence::default();
        assert!(meeting.spoke("c"));
        assert!(!meeting.spoke("c"), "the same speaker changes nothing");
        let seen = |meeting: &Presence, viewer| {
            names(&meeting.scene(Layout::OnePlus5, &all, viewer), &all)
        };
        assert_eq!(seen(&meeting, "x"), ["c", "a", "b", "d"]);
        assert_eq!(seen(&meeting, "a"), ["c", "b", "d"], "never itself");
        // The speaker sees the previous one big.
        meeting.spoke("b");
        meeting.spoke("c");
        assert_eq!(seen(&meeting, "c"), ["b", "a", "d"]);
        assert_eq!(seen(&meeting, "d"), ["c", "b", "a"]);
    }

    #[test]
    fn rooms_outside_the_picture_share_it_and_automatic_is_the_same_for_all() {
        let all = cameras(&["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]);
        let meeting = Presence::default();
        let outside: Vec<Scene> = ["i", "j"]
            .iter()
            .map(|v| meeting.scene(Layout::OnePlus7, &all, v))
            .collect();
        assert_eq!(outside[0], outside[1]);
        let inside = meeting.scene(Layout::OnePlus7, &all, "a");
        assert_ne!(inside, outside[0]);
        assert_eq!(names(&inside, &all)[7], "i", "the next one takes its place");
        // Automatic: nine others for everyone, a 3x3.
        let auto = meeting.scene(Layout::Automatic, &all, "a");
        assert_eq!(auto.layout, Layout::Grid(3));
        assert_eq!(
            auto.layout,
            meeting.scene(Layout::Automatic, &all, "j").layout
        );
        // Alone: nothing to see.
        let alone = meeting.scene(Layout::Automatic, &all[..1], "a");
        assert_eq!(alone.tiles, []);
    }

    #[test]
    fn a_speaker_without_a_camera_is_shown_as_its_card() {
        let mut all = cameras(&["a", "b"]);
        all.push(Candidate {
            participant: "phone",
            camera: None,
        });
        let mut meeting = Presence::default();
        meeting.spoke("phone");
        let scene = meeting.scene(Layout::Speaker, &all, "a");
        assert_eq!(scene.tiles, [Shows::Card("phone".into())]);
        meeting.left("phone");
        assert!(!meeting.has_spoken("phone"));
    }

    #[test]
    fn polling_turns_the_small_tiles_through_everyone_keeping_the_speaker() {
        let all = cameras(&["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]);
        let mut meeting = Presence::default();
        meeting.settings.polling_seconds = Some(5);
        meeting.spoke("e");
        let t0 = Instant::now();
        assert!(!meeting.tick(t0), "the period starts");
        let mut seen = std::collections::HashSet::new();
        for period in 0..2 {
            let now = t0 + Duration::from_secs(5 * period);
            assert_eq!(meeting.tick(now), period > 0);
            assert!(!meeting.tick(now + Duration::from_secs(4)));
            let scene = names(&meeting.scene(Layout::OnePlus7, &all, "z"), &all);
            assert_eq!(scene[0], "e", "the speaker stays big");
            assert_eq!(scene.len(), 8);
            seen.extend(scene);
        }
        assert_eq!(seen.len(), 10, "everyone within two periods: {seen:?}");
        // Off: no turning, the first ones stay.
        meeting.settings.polling_seconds = None;
        assert!(!meeting.tick(t0 + Duration::from_secs(60)));
        let scene = names(&meeting.scene(Layout::OnePlus7, &all, "z"), &all);
        assert_eq!(scene, ["e", "a", "b", "c", "d", "f", "g", "h"]);
    }

    #[test]
    fn with_polling_recent_speakers_keep_small_tiles() {
        let all = cameras(&["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]);
        let mut meeting = Presence::default();
        meeting.settings.polling_seconds = Some(5);
        for s in ["j", "i", "h"] {
            meeting.spoke(s);
        }
        let t0 = Instant::now();
        meeting.tick(t0);
        for period in 1..6 {
            meeting.tick(t0 + Duration::from_secs(5 * period));
            let scene = names(&meeting.scene(Layout::Grid(2), &all, "z"), &all);
            assert_eq!(scene[..2], ["h", "i"], "turn {period}: {scene:?}");
        }
    }
}
