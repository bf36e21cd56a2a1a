//! The embedded meeting service's SFU: participants publish their tracks
//! and receive everyone else's, forwarded without transcoding. Browsers
//! have a session each; a media node has one gateway session per meeting
//! for all its rooms there. Meeting definitions come from the
//! [`Directory`]; browsers take their [`Seats`] here, a gateway's rooms
//! hold theirs already (their node took them before answering them); who
//! is in a meeting lives only in memory.

mod forward;
mod keyframe;
mod room;
mod session;
mod stats;

pub use keyframe::starts_keyframe;
pub use stats::{SfuCounts, SfuStats};

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::service::{MeetingService, Session};
use crate::{Directory, Refusal, Seats};
use room::Room;

/// Settings of the SFU.
#[derive(Debug, Clone)]
pub struct SfuConfig {
    /// Addresses for ICE host candidates and media sockets (one socket
    /// and candidate each).
    pub rtc_ips: Vec<IpAddr>,
}

/// The SFU; cheap to clone.
#[derive(Clone)]
pub struct Sfu {
    inner: Arc<Inner>,
}

struct Inner {
    config: SfuConfig,
    directory: Arc<dyn Directory>,
    seats: Arc<dyn Seats>,
    rooms: Mutex<HashMap<String, Arc<Room>>>,
    next_id: AtomicU64,
    stats: Arc<SfuStats>,
}

impl Sfu {
    pub fn new(config: SfuConfig, directory: Arc<dyn Directory>, seats: Arc<dyn Seats>) -> Sfu {
        Sfu {
            inner: Arc::new(Inner {
                config,
                directory,
                seats,
                rooms: Mutex::default(),
                next_id: AtomicU64::new(1),
                stats: Arc::default(),
            }),
        }
    }

    /// The meeting in progress with this number, started if need be.
    async fn room(&self, number: &str) -> Result<Arc<Room>, Refusal> {
        if let Some(room) = self.rooms().get(number) {
            return Ok(room.clone());
        }
        match self.inner.directory.find(number).await {
            Ok(Some(meeting)) => Ok(self.room_of(meeting)),
            Ok(None) => Err(Refusal::UnknownMeeting),
            Err(e) => {
                tracing::warn!("{e}");
                Err(Refusal::UnknownMeeting)
            }
        }
    }

    /// The meeting in progress, started if need be.
    fn room_of(&self, meeting: crate::Meeting) -> Arc<Room> {
        self.rooms()
            .entry(meeting.number.clone())
            .or_insert_with(|| {
                let room = Arc::new(Room::new(meeting));
                tokio::spawn(room::watch_speakers(Arc::downgrade(&room)));
                room
            })
            .clone()
    }

    fn rooms(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Room>>> {
        self.inner.rooms.lock().expect("rooms")
    }

    /// Drops a meeting nobody is in (its definition may have changed).
    fn forget_if_empty(&self, room: &Arc<Room>) {
        let mut rooms = self.rooms();
        if room.is_empty()
            && rooms
                .get(&room.meeting.number)
                .is_some_and(|r| Arc::ptr_eq(r, room))
        {
            rooms.remove(&room.meeting.number);
        }
    }

    fn next_participant_id(&self) -> String {
        format!("p{}", self.inner.next_id.fetch_add(1, Ordering::Relaxed))
    }

    fn next_session_id(&self) -> room::SessionId {
        self.inner.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Open sessions and peer connections, right now.
    pub fn stats(&self) -> &Arc<SfuStats> {
        &self.inner.stats
    }

    fn seats(&self) -> &dyn Seats {
        &*self.inner.seats
    }

    fn rtc_ips(&self) -> &[IpAddr] {
        &self.inner.config.rtc_ips
    }
}

impl Sfu {
    fn open(&self, opener: session::Opener) -> Session {
        let (to_service, incoming) = mpsc::channel(64);
        let (out, from_service) = mpsc::channel(256);
        tokio::spawn(session::run(self.clone(), opener, incoming, out));
        Session {
            to_service,
            from_service,
        }
    }
}

impl MeetingService for Sfu {
    fn connect(&self) -> Session {
        self.open(session::Opener::Participant)
    }

    fn connect_gateway(&self) -> Session {
        self.open(session::Opener::Gateway)
    }
}
