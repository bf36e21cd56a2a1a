//! [`RtpEngine`]: the in-process media node behind [`MediaControl`]. Each
//! leg has an RTP/RTCP socket pair; a receive task per leg on the async
//! runtime feeds its jitter buffer; once in a meeting, a connector task per
//! leg is its WebRTC participant; one media thread decodes, mixes, plays
//! prompts and encodes for every leg.

pub(crate) mod bridge;
pub(crate) mod inbound;
mod receive;
mod sender;
mod worker;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{mpsc as std_mpsc, Arc, Mutex};

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use self::receive::{LegState, Shared};
use crate::connector;
use crate::jitter::JitterStats;
use crate::ports::{PortAllocator, PortRange};
use crate::prompts::Prompt;
use crate::{LegId, LegMedia, MediaControl, MediaError, MediaEvent, MediaFuture, MeetingJoin};
use meeting::MeetingService;

/// A leg's media figures, as the admin API shows them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LegStats {
    pub codec: Option<&'static str>,
    /// Where we send RTP (the room's real source once it has sent).
    pub remote: Option<String>,
    pub packets_received: u64,
    pub packets_lost: i64,
    pub loss_percent: f64,
    pub jitter_ms: f64,
    pub rtt_ms: Option<f64>,
    pub packets_sent: u32,
    /// RFC 6464 level of the room's last frame (0 loud .. 127 silent).
    pub level: u8,
    pub muted: bool,
    pub jitter_buffer: JitterStats,
    /// Fraction of our packets the room reports lost (x/256).
    pub their_fraction_lost: Option<u8>,
    /// Audio streams of the meeting the room hears (one per other participant).
    pub meeting_streams: usize,
}

/// Requests to the media thread.
pub(crate) enum Command {
    Add {
        id: LegId,
        shared: Shared,
        rtp: std::net::UdpSocket,
        rtcp: std::net::UdpSocket,
        ssrc: u32,
    },
    Configure(LegId, LegMedia),
    Remove(LegId),
    /// The leg is a participant of its meeting: publish to, and mix from, it.
    Bridge {
        leg: LegId,
        meeting: String,
        publish: bridge::PublishTo,
    },
    Unbridge(LegId),
    AddStream(LegId, bridge::MeetingStream),
    RemoveStream(LegId, u64),
    Play(LegId, Prompt),
    BargeIn(LegId),
    Mute(LegId, bool),
    SendDigit(LegId, char),
    Stats(LegId, oneshot::Sender<Option<LegStats>>),
}

struct Leg {
    state: Shared,
    task: JoinHandle<()>,
    connector: Option<Connector>,
}

/// How to tell a leg's connector task that the room (un)muted; dropping it
/// makes the task leave the meeting and close its peer connections.
struct Connector {
    muted: mpsc::UnboundedSender<bool>,
}

impl Drop for Leg {
    fn drop(&mut self) {
        // The connector, if any, leaves the meeting as its sender drops.
        self.task.abort();
    }
}

/// Where rooms meet: the meeting service connectors join, and the address
/// their WebRTC media uses.
pub struct MeetingLink {
    pub service: Arc<dyn MeetingService>,
    pub rtc_ip: IpAddr,
}

/// Media legs served from this process.
pub struct RtpEngine {
    range: PortRange,
    ports: PortAllocator,
    legs: Mutex<HashMap<LegId, Leg>>,
    events: mpsc::UnboundedSender<MediaEvent>,
    commands: Mutex<std_mpsc::Sender<Command>>,
    meetings: MeetingLink,
}

impl RtpEngine {
    /// Creates the engine and starts its media thread; leg events go to
    /// `events`; legs join meetings through `meetings`.
    pub fn new(
        range: PortRange,
        events: mpsc::UnboundedSender<MediaEvent>,
        meetings: MeetingLink,
    ) -> Arc<RtpEngine> {
        let (commands, rx) = std_mpsc::channel();
        let worker = worker::Worker::new(events.clone());
        std::thread::Builder::new()
            .name("mra-media".into())
            .spawn(move || worker.run(rx))
            .expect("spawn media thread");
        Arc::new(RtpEngine {
            range,
            ports: PortAllocator::new(range),
            legs: Mutex::new(HashMap::new()),
            events,
            commands: Mutex::new(commands),
            meetings,
        })
    }

    /// Number of live legs.
    pub fn leg_count(&self) -> usize {
        self.legs.lock().expect("legs lock").len()
    }

    fn command(&self, c: Command) {
        let _ = self.commands.lock().expect("commands lock").send(c);
    }

    fn known(&self, id: LegId) -> Result<(), MediaError> {
        if self.legs.lock().expect("legs lock").contains_key(&id) {
            Ok(())
        } else {
            Err(MediaError::UnknownLeg(id))
        }
    }
}

impl MediaControl for RtpEngine {
    fn create_leg(&self, id: LegId, ip: IpAddr) -> MediaFuture<'_, SocketAddr> {
        Box::pin(async move {
            let (rtp, rtcp) = self
                .ports
                .bind_pair(ip)
                .ok_or(MediaError::NoPorts(self.range))?;
            rtp.set_nonblocking(true)?;
            rtcp.set_nonblocking(true)?;
            let (rtp_send, rtcp_send) = (rtp.try_clone()?, rtcp.try_clone()?);
            let rtp = UdpSocket::from_std(rtp)?;
            let rtcp = UdpSocket::from_std(rtcp)?;
            let local = rtp.local_addr()?;
            let ssrc = rand::random();
            let state: Shared = Arc::new(Mutex::new(LegState::new(ssrc)));
            let commands = self.commands.lock().expect("commands lock").clone();
            self.command(Command::Add {
                id,
                shared: state.clone(),
                rtp: rtp_send,
                rtcp: rtcp_send,
                ssrc,
            });
            let task = tokio::spawn(receive::receive(
                id,
                rtp,
                rtcp,
                state.clone(),
                self.events.clone(),
                commands,
            ));
            let leg = Leg {
                state,
                task,
                connector: None,
            };
            // A replaced leg's tasks stop as it drops.
            self.legs.lock().expect("legs lock").insert(id, leg);
            Ok(local)
        })
    }

    fn configure_leg(&self, id: LegId, media: LegMedia) -> MediaFuture<'_, ()> {
        Box::pin(async move {
            {
                let legs = self.legs.lock().expect("legs lock");
                let leg = legs.get(&id).ok_or(MediaError::UnknownLeg(id))?;
                leg.state
                    .lock()
                    .expect("leg state")
                    .configure(media.clone());
            }
            self.command(Command::Configure(id, media));
            Ok(())
        })
    }

    fn destroy_leg(&self, id: LegId) -> MediaFuture<'_, ()> {
        Box::pin(async move {
            // Its receive and connector tasks stop as it drops.
            self.legs.lock().expect("legs lock").remove(&id);
            self.command(Command::Remove(id));
            Ok(())
        })
    }

    fn join_meeting(&self, id: LegId, join: MeetingJoin) -> MediaFuture<'_, ()> {
        Box::pin(async move {
            let (muted, muted_rx) = mpsc::unbounded_channel();
            let cx = connector::Context {
                service: self.meetings.service.clone(),
                rtc_ip: self.meetings.rtc_ip,
                worker: self.commands.lock().expect("commands lock").clone(),
                events: self.events.clone(),
                muted: muted_rx,
            };
            let mut legs = self.legs.lock().expect("legs lock");
            let leg = legs.get_mut(&id).ok_or(MediaError::UnknownLeg(id))?;
            tokio::spawn(connector::run(id, join, cx));
            // A connector already there leaves as it is replaced.
            leg.connector = Some(Connector { muted });
            Ok(())
        })
    }

    fn play(&self, id: LegId, prompt: Prompt) -> MediaFuture<'_, ()> {
        Box::pin(async move {
            self.known(id)?;
            self.command(Command::Play(id, prompt));
            Ok(())
        })
    }

    fn set_muted(&self, id: LegId, muted: bool) -> MediaFuture<'_, ()> {
        Box::pin(async move {
            {
                let legs = self.legs.lock().expect("legs lock");
                let leg = legs.get(&id).ok_or(MediaError::UnknownLeg(id))?;
                if let Some(c) = &leg.connector {
                    let _ = c.muted.send(muted);
                }
            }
            self.command(Command::Mute(id, muted));
            Ok(())
        })
    }

    fn send_digit(&self, id: LegId, digit: char) -> MediaFuture<'_, ()> {
        Box::pin(async move {
            self.known(id)?;
            self.command(Command::SendDigit(id, digit));
            Ok(())
        })
    }

    fn stats(&self, id: LegId) -> MediaFuture<'_, LegStats> {
        Box::pin(async move {
            let (tx, rx) = oneshot::channel();
            self.command(Command::Stats(id, tx));
            rx.await.ok().flatten().ok_or(MediaError::UnknownLeg(id))
        })
    }
}
