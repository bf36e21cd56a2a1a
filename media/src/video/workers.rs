//! The video worker threads: decoding, scaling, composing and encoding
//! never run on the async runtime nor on the audio workers. A meeting's
//! video lives on one worker (chosen by its name), whose [`Router`] holds
//! its sources, viewers and pictures. Queues are bounded: when a worker
//! falls behind, packets are dropped (and counted) rather than piling up.
//! A worker busy more than 85 % of a second divides its pictures' frame
//! rate (by 2, then 3) until it is idle half the time again.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::warn;

use super::encoder_count::EncoderCount;
use super::router::{Router, VideoCommand};
use crate::engine::Workers;
use media_api::layout::Layout;

/// Commands a worker may have waiting (about a second of 4 HD sources).
const QUEUE: usize = 8192;

/// One video worker's queue.
#[derive(Clone)]
pub(crate) struct VideoQueue {
    commands: SyncSender<VideoCommand>,
    dropped: Arc<AtomicU64>,
    /// What the worker divides frame rates by now.
    slowdown: Arc<AtomicU32>,
}

impl VideoQueue {
    /// Queues a command, dropping it if the worker is that far behind.
    pub fn send(&self, command: VideoCommand) {
        if let Err(TrySendError::Full(_)) = self.commands.try_send(command) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The node's video workers.
#[derive(Clone)]
pub(crate) struct VideoWorkers {
    queues: Arc<[VideoQueue]>,
    encoders: EncoderCount,
}

impl VideoWorkers {
    /// Starts `count` workers composing in `layout` unless a meeting or
    /// a room says otherwise; encoded frames go out through `workers`.
    pub fn start(count: usize, workers: &Workers, layout: Layout) -> VideoWorkers {
        let encoders = EncoderCount::default();
        let queues = (0..count.max(1))
            .map(|n| {
                let (commands, receiver) = sync_channel(QUEUE);
                let slowdown = Arc::new(AtomicU32::new(1));
                let (workers, encoders) = (workers.clone(), encoders.clone());
                let shed = slowdown.clone();
                std::thread::Builder::new()
                    .name(format!("video-{n}"))
                    .spawn(move || run(Router::new(workers, encoders, layout), receiver, &shed))
                    .expect("a video worker thread");
                VideoQueue {
                    commands,
                    dropped: Arc::default(),
                    slowdown,
                }
            })
            .collect();
        VideoWorkers { queues, encoders }
    }

    /// Encoders running on the workers.
    pub fn encoders(&self) -> u64 {
        self.encoders.total()
    }

    /// Encoders running, by meeting.
    pub fn encoders_by_meeting(&self) -> Vec<(String, u64)> {
        self.encoders.by_meeting()
    }

    /// The most any worker divides frame rates by now (1: none).
    pub fn slowdown(&self) -> u32 {
        let each = self
            .queues
            .iter()
            .map(|q| q.slowdown.load(Ordering::Relaxed));
        each.max().unwrap_or(1)
    }

    /// The queue of the worker that carries `meeting`'s video.
    pub fn of_meeting(&self, meeting: &str) -> VideoQueue {
        let mut h = DefaultHasher::new();
        meeting.hash(&mut h);
        self.queues[(h.finish() % self.queues.len() as u64) as usize].clone()
    }

    /// Commands dropped because a worker was behind.
    pub fn dropped(&self) -> u64 {
        self.queues
            .iter()
            .map(|q| q.dropped.load(Ordering::Relaxed))
            .sum()
    }
}

/// Frame rates are divided by at most this under load.
const MAX_SLOWDOWN: u32 = 3;
/// How long load is measured over.
const LOAD_WINDOW: Duration = Duration::from_secs(1);

/// How busy a worker was over the last window, and what it divides
/// frame rates by.
struct Load {
    since: Instant,
    busy: Duration,
    slowdown: u32,
}

impl Load {
    /// Counts `busy` time; at the end of a window, returns the new
    /// slowdown if it changed.
    fn add(&mut self, busy: Duration, now: Instant) -> Option<u32> {
        self.busy += busy;
        let window = now.saturating_duration_since(self.since);
        if window < LOAD_WINDOW {
            return None;
        }
        let share = self.busy.as_secs_f64() / window.as_secs_f64();
        (self.since, self.busy) = (now, Duration::ZERO);
        let slowdown = if share > 0.85 {
            (self.slowdown + 1).min(MAX_SLOWDOWN)
        } else if share < 0.5 {
            (self.slowdown - 1).max(1)
        } else {
            self.slowdown
        };
        (slowdown != self.slowdown).then(|| {
            self.slowdown = slowdown;
            slowdown
        })
    }
}

/// Serves one worker's queue until every sender is gone.
fn run(mut router: Router, commands: Receiver<VideoCommand>, slowdown: &AtomicU32) {
    let mut next_tick = Instant::now();
    let mut load = Load {
        since: Instant::now(),
        busy: Duration::ZERO,
        slowdown: 1,
    };
    loop {
        let wait = next_tick.saturating_duration_since(Instant::now());
        let received = commands.recv_timeout(wait);
        let started = Instant::now();
        match received {
            Ok(command) => router.handle(command, started),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        if started >= next_tick {
            next_tick = started + router.tick(started);
        }
        let now = Instant::now();
        if let Some(changed) = load.add(now - started, now) {
            warn!(
                slowdown = changed,
                "video worker load: frame rates divided by {changed}"
            );
            slowdown.store(changed, Ordering::Relaxed);
            router.slow_down(changed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_worker_divides_frame_rates_and_recovers_when_idle() {
        let t0 = Instant::now();
        let mut load = Load {
            since: t0,
            busy: Duration::ZERO,
            slowdown: 1,
        };
        let second = |n: u64| t0 + Duration::from_millis(1000 * n);
        assert_eq!(load.add(Duration::from_millis(950), second(1)), Some(2));
        assert_eq!(load.add(Duration::from_millis(950), second(2)), Some(3));
        assert_eq!(
            load.add(Duration::from_millis(990), second(3)),
            None,
            "at most 3"
        );
        assert_eq!(load.add(Duration::from_millis(700), second(4)), None);
        assert_eq!(load.add(Duration::from_millis(100), second(5)), Some(2));
        assert_eq!(load.add(Duration::from_millis(100), second(6)), Some(1));
        assert_eq!(load.add(Duration::from_millis(10), second(7)), None);
    }
}
