//! One meeting's audio on its media worker: the remote participants'
//! streams (each decoded once per frame) and the local rooms bridged into
//! it. Every room hears everyone but itself — the remote streams and the
//! other local rooms — from two sums made once per frame (mix-minus: the
//! room's own contribution is taken back out), so a frame costs one pass
//! per participant, not one per pair. The loudest participant a room hears
//! is its active speaker; the loudest of all is the meeting's, which its
//! video worker is told (the big tiles follow it).

use std::time::Instant;

use meeting::speaker::SpeakerDetector;

use super::stream::MeetingStream;
use crate::audio::{Frame, FRAME};
use crate::mixer::soft_clip;
use crate::video::{VideoCommand, VideoQueue};
use media_api::LegId;

/// Speaker keys of local rooms (remote streams use their stream ids).
const LOCAL: u64 = 1 << 63;

/// What a local room put into the meeting this frame.
pub(crate) struct Contribution<'a> {
    pub frame: &'a Frame,
    pub level: u8,
}

#[derive(Default)]
pub(crate) struct MeetingMix {
    streams: Vec<MeetingStream>,
    /// Local rooms: leg and participant id.
    rooms: Vec<(LegId, String)>,
    remote: Vec<i32>,
    local: Vec<i32>,
    /// Everyone's level this frame, by speaker key.
    levels: Vec<(u64, u8)>,
    /// A room's view of `levels` (its own entry silenced).
    heard: Vec<(u64, u8)>,
    /// The meeting's own speaker, nobody left out.
    speaker: SpeakerDetector<u64>,
    /// The meeting's video worker (once a room is in it).
    pub video: Option<VideoQueue>,
}

impl MeetingMix {
    pub fn add_stream(&mut self, stream: MeetingStream) {
        self.streams.push(stream);
    }

    pub fn remove_stream(&mut self, id: u64) {
        self.streams.retain(|s| s.id != id);
    }

    pub fn add_room(&mut self, leg: LegId, participant: String) {
        self.rooms.retain(|(l, _)| *l != leg);
        self.rooms.push((leg, participant));
    }

    /// The meeting's speaker (the loudest of all, with hysteresis) when
    /// it changed with this frame.
    pub fn meeting_speaker(&mut self) -> Option<&str> {
        let key = self.speaker.update(&self.levels)?;
        self.participant(key)
    }

    /// Tells the meeting's video worker when its speaker changed.
    pub fn tell_speaker(&mut self, meeting: &str) {
        let Some(participant) = self.meeting_speaker().map(str::to_owned) else {
            return;
        };
        if let Some(video) = &self.video {
            video.send(VideoCommand::Speaker(meeting.into(), participant));
        }
    }

    /// The participant id of speaker key `key`.
    fn participant(&self, key: u64) -> Option<&str> {
        if key & LOCAL != 0 {
            let (_, participant) = self.rooms.iter().find(|(l, _)| LOCAL | l.0 == key)?;
            Some(participant)
        } else {
            let stream = self.streams.iter().find(|s| s.id == key)?;
            Some(&stream.participant)
        }
    }

    pub fn remove_room(&mut self, leg: LegId) {
        self.rooms.retain(|(l, _)| *l != leg);
    }

    pub fn is_empty(&self) -> bool {
        self.streams.is_empty() && self.rooms.is_empty()
    }

    /// How many participants a room of this meeting hears.
    pub fn heard_by_a_room(&self) -> usize {
        self.streams.len() + self.rooms.len().saturating_sub(1)
    }

    /// Decodes the remote streams' next frames and sums them, and sums the
    /// local rooms' contributions (`contribution` gives a room's, if it has
    /// one this frame).
    pub fn prepare<'a>(
        &mut self,
        now: Instant,
        contribution: impl Fn(LegId) -> Option<Contribution<'a>>,
    ) {
        self.remote.clear();
        self.remote.resize(FRAME, 0);
        self.local.clear();
        self.local.resize(FRAME, 0);
        self.levels.clear();
        for stream in &mut self.streams {
            stream.decode(now);
            add(&mut self.remote, &stream.frame);
            self.levels.push((stream.id, stream.level));
        }
        for (leg, _) in &self.rooms {
            if let Some(c) = contribution(*leg) {
                add(&mut self.local, c.frame);
                self.levels.push((LOCAL | leg.0, c.level));
            }
        }
    }

    /// What room `leg` hears: everyone but its own `contribution`, soft
    /// clipped, into `out`; returns its new active speaker's participant
    /// id when that changed.
    pub fn hear(
        &mut self,
        leg: LegId,
        own: Option<&Frame>,
        speaker: &mut SpeakerDetector<u64>,
        out: &mut Frame,
    ) -> Option<&str> {
        match own {
            Some(own) => {
                for (i, o) in out.iter_mut().enumerate() {
                    *o = soft_clip(self.remote[i] + self.local[i] - i32::from(own[i]));
                }
            }
            None => {
                for (i, o) in out.iter_mut().enumerate() {
                    *o = soft_clip(self.remote[i] + self.local[i]);
                }
            }
        }
        let me = LOCAL | leg.0;
        self.heard.clear();
        self.heard.extend(
            self.levels
                .iter()
                .map(|&(k, l)| (k, if k == me { 127 } else { l })),
        );
        let key = speaker.update(&self.heard)?;
        self.participant(key)
    }
}

fn add(sum: &mut [i32], frame: &Frame) {
    for (s, &x) in sum.iter_mut().zip(frame.iter()) {
        *s += i32::from(x);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_room_hears_everyone_but_itself() {
        let mut mix = MeetingMix::default();
        let (a, b, c) = (LegId(1), LegId(2), LegId(3));
        for leg in [a, b, c] {
            mix.add_room(leg, format!("p{}", leg.0));
        }
        let frames = [[100i16; FRAME], [20; FRAME], [3; FRAME]];
        mix.prepare(Instant::now(), |leg| {
            let frame = &frames[leg.0 as usize - 1];
            Some(Contribution { frame, level: 30 })
        });
        let mut out = [0; FRAME];
        let mut speaker = SpeakerDetector::default();
        mix.hear(a, Some(&frames[0]), &mut speaker, &mut out);
        assert_eq!(out[0], 23);
        mix.hear(c, Some(&frames[2]), &mut speaker, &mut out);
        assert_eq!(out[0], 120);
        mix.hear(b, None, &mut speaker, &mut out);
        assert_eq!(out[0], 123, "a room that does not contribute hears all");
        assert_eq!(mix.heard_by_a_room(), 2);
        mix.remove_room(a);
        mix.remove_room(b);
        mix.remove_room(c);
        assert!(mix.is_empty());
    }

    #[test]
    fn the_meetings_speaker_is_the_loudest_of_all_even_for_the_speakers_own_view() {
        let mut mix = MeetingMix::default();
        let (a, b) = (LegId(1), LegId(2));
        mix.add_room(a, "ann".into());
        mix.add_room(b, "bob".into());
        let frame = [0i16; FRAME];
        let mut a_hears = SpeakerDetector::default();
        let mut out = [0; FRAME];
        let mut frame_with = |mix: &mut MeetingMix, a_level, b_level| {
            mix.prepare(Instant::now(), |leg| {
                let level = if leg == a { a_level } else { b_level };
                Some(Contribution {
                    frame: &frame,
                    level,
                })
            });
            let a_heard = mix
                .hear(a, Some(&frame), &mut a_hears, &mut out)
                .map(str::to_owned);
            (mix.meeting_speaker().map(str::to_owned), a_heard)
        };
        // Ann talks: the meeting's speaker.
        let mut changes = Vec::new();
        for _ in 0..20 {
            changes.push(frame_with(&mut mix, 20, 127));
        }
        assert!(changes.contains(&(Some("ann".into()), None)), "{changes:?}");
        // Bob talks softly while Ann goes on: Ann's own view picks Bob,
        // the meeting keeps Ann.
        let changes: Vec<_> = (0..40).map(|_| frame_with(&mut mix, 20, 35)).collect();
        assert!(
            changes.iter().all(|(meeting, _)| meeting.is_none()),
            "{changes:?}"
        );
        assert!(changes.iter().any(|(_, a)| a.as_deref() == Some("bob")));
    }
}
