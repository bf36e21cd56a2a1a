//! Seats: admission decided once, for every way into a meeting (SIP and
//! H.323 rooms, call-outs, browsers), and held until the participant
//! leaves. Taking a seat checks the meeting (it exists, is not locked, the
//! password is right — [`admit`]) and its capacity in one step; the seat
//! counts against the meeting until it is released. Signaling takes a seat
//! before it answers a room, so a refusal never comes after the answer.
//!
//! [`LocalSeats`] counts in memory, for a single node. A cluster counts in
//! its shared database (the binary's store), so that the rooms of one
//! meeting arriving on different nodes share one capacity.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use crate::admission::{admit, Refusal};
use crate::{Directory, DirectoryError, Meeting};

/// Identifies a taken seat.
pub type SeatId = i64;

/// A place in a meeting, held until released.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seat {
    pub id: SeatId,
    pub meeting: Meeting,
}

/// What asking for a seat needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatRequest {
    /// The meeting's number.
    pub number: String,
    pub password: Option<String>,
    /// Who the seat is for, for operators reading the seats (a room's
    /// name, a browser's).
    pub holder: String,
}

/// The seat, or why not; an error when the decision could not be made.
pub type Taken = Result<Result<Seat, Refusal>, DirectoryError>;

/// Boxed future of [`Seats::take`].
pub type Taking<'a> = Pin<Box<dyn Future<Output = Taken> + Send + 'a>>;

/// Boxed future of [`Seats::release`].
pub type Releasing<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Where a meeting's seats are counted.
pub trait Seats: Send + Sync + 'static {
    /// Admits `request`'s participant and holds a seat for it, or says why not.
    fn take(&self, request: SeatRequest) -> Taking<'_>;
    /// Gives a seat back; releasing one twice, or one that expired, is harmless.
    fn release(&self, seat: SeatId) -> Releasing<'_>;
}

/// Seats counted in this process: right for a node alone.
pub struct LocalSeats {
    directory: Arc<dyn Directory>,
    max_participants: usize,
    held: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    next: SeatId,
    /// Meeting number of each seat.
    seats: HashMap<SeatId, String>,
    /// Seats per meeting.
    counts: HashMap<String, usize>,
}

impl LocalSeats {
    pub fn new(directory: Arc<dyn Directory>, max_participants: usize) -> LocalSeats {
        LocalSeats {
            directory,
            max_participants,
            held: Mutex::default(),
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().expect("seats")
    }

    /// Seats held in `number` now.
    pub fn count(&self, number: &str) -> usize {
        self.held().counts.get(number).copied().unwrap_or(0)
    }
}

impl Seats for LocalSeats {
    fn take(&self, request: SeatRequest) -> Taking<'_> {
        Box::pin(async move {
            let found = self.directory.find(&request.number).await?;
            let meeting = match admit(found, request.password.as_deref()) {
                Ok(meeting) => meeting,
                Err(why) => return Ok(Err(why)),
            };
            let mut held = self.held();
            let count = held.counts.get(&meeting.number).copied().unwrap_or(0);
            if count >= self.max_participants {
                return Ok(Err(Refusal::Full));
            }
            held.next += 1;
            let id = held.next;
            held.seats.insert(id, meeting.number.clone());
            *held.counts.entry(meeting.number.clone()).or_default() += 1;
            Ok(Ok(Seat { id, meeting }))
        })
    }

    fn release(&self, seat: SeatId) -> Releasing<'_> {
        let mut held = self.held();
        if let Some(number) = held.seats.remove(&seat) {
            if let Some(n) = held.counts.get_mut(&number) {
                *n -= 1;
                if *n == 0 {
                    held.counts.remove(&number);
                }
            }
        }
        Box::pin(std::future::ready(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::Lookup;

    struct One(Meeting);

    impl Directory for One {
        fn find(&self, number: &str) -> Lookup<'_> {
            let found = (number == self.0.number).then(|| self.0.clone());
            Box::pin(std::future::ready(Ok(found)))
        }
    }

    fn request(number: &str, password: Option<&str>) -> SeatRequest {
        SeatRequest {
            number: number.into(),
            password: password.map(Into::into),
            holder: "room".into(),
        }
    }

    fn take(seats: &LocalSeats, number: &str, password: Option<&str>) -> Result<Seat, Refusal> {
        futures_executor(seats.take(request(number, password))).expect("decided")
    }

    /// The futures here never wait; poll once.
    fn futures_executor<T>(mut f: Pin<Box<dyn Future<Output = T> + Send + '_>>) -> T {
        let waker = std::task::Waker::noop();
        match f.as_mut().poll(&mut std::task::Context::from_waker(waker)) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => unreachable!("local seats never wait"),
        }
    }

    #[test]
    fn seats_admit_up_to_capacity_and_free_on_release() {
        let seats = LocalSeats::new(
            Arc::new(One(Meeting {
                number: "1".into(),
                password: Some("4321".into()),
                host_pin: None,
                name: "Weekly".into(),
                locked: false,
                layout: Default::default(),
                encryption: None,
            })),
            2,
        );
        assert_eq!(take(&seats, "2", None), Err(Refusal::UnknownMeeting));
        assert_eq!(take(&seats, "1", None), Err(Refusal::PasswordRequired));
        assert_eq!(take(&seats, "1", Some("1")), Err(Refusal::WrongPassword));
        let a = take(&seats, "1", Some("4321")).unwrap();
        let b = take(&seats, "1", Some("4321")).unwrap();
        assert_ne!(a.id, b.id);
        assert_eq!(b.meeting.name, "Weekly");
        assert_eq!(take(&seats, "1", Some("4321")), Err(Refusal::Full));
        futures_executor(seats.release(a.id));
        futures_executor(seats.release(a.id));
        assert_eq!(seats.count("1"), 1, "released once however often");
        take(&seats, "1", Some("4321")).expect("a seat again");
        assert_eq!(take(&seats, "1", Some("4321")), Err(Refusal::Full));
    }
}
