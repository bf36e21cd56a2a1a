//! The video worker threads: decoding, scaling and encoding never run on
//! the async runtime nor on the audio workers. A meeting's video lives on
//! one worker (chosen by its name), whose [`Router`] holds its sources,
//! viewers and encoders. Queues are bounded: when a worker falls behind,
//! packets are dropped (and counted) rather than piling up.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::router::{Router, VideoCommand};
use crate::engine::Workers;

/// Commands a worker may have waiting (about a second of 4 HD sources).
const QUEUE: usize = 8192;

/// One video worker's queue.
#[derive(Clone)]
pub(crate) struct VideoQueue {
    commands: SyncSender<VideoCommand>,
    dropped: Arc<AtomicU64>,
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
    encoders: Arc<AtomicU64>,
}

impl VideoWorkers {
    /// Starts `count` workers; encoded frames go out through `workers`.
    pub fn start(count: usize, workers: &Workers) -> VideoWorkers {
        let encoders = Arc::new(AtomicU64::new(0));
        let queues = (0..count.max(1))
            .map(|n| {
                let (commands, receiver) = sync_channel(QUEUE);
                let workers = workers.clone();
                let encoders = encoders.clone();
                std::thread::Builder::new()
                    .name(format!("video-{n}"))
                    .spawn(move || run(Router::new(workers, encoders), receiver))
                    .expect("a video worker thread");
                VideoQueue {
                    commands,
                    dropped: Arc::default(),
                }
            })
            .collect();
        VideoWorkers { queues, encoders }
    }

    /// Encoders running on the workers.
    pub fn encoders(&self) -> u64 {
        self.encoders.load(Ordering::Relaxed)
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

/// How often a worker looks for name cards to send again.
const TICK: Duration = Duration::from_millis(100);

/// Serves one worker's queue until every sender is gone.
fn run(mut router: Router, commands: Receiver<VideoCommand>) {
    let mut ticked = Instant::now();
    loop {
        match commands.recv_timeout(TICK) {
            Ok(command) => router.handle(command, Instant::now()),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        let now = Instant::now();
        if now.saturating_duration_since(ticked) >= TICK {
            ticked = now;
            router.tick(now);
        }
    }
}
