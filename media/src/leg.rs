//! [`RtpEngine`]: the in-process media node. Each leg owns an RTP/RTCP
//! socket pair and a receive task; for now the task recognises RFC 4733
//! telephone-events and reports digits (audio processing joins here next).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use rtc_rtp::Header;
use rtc_shared::marshal::Unmarshal;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::ports::{PortAllocator, PortRange};
use crate::telephone_event::DigitDetector;
use crate::{LegId, LegMedia, MediaControl, MediaError, MediaEvent, MediaFuture};

struct Leg {
    config: watch::Sender<Option<LegMedia>>,
    task: JoinHandle<()>,
}

/// Media legs served from this process.
pub struct RtpEngine {
    range: PortRange,
    ports: PortAllocator,
    legs: Mutex<HashMap<LegId, Leg>>,
    events: mpsc::UnboundedSender<MediaEvent>,
}

impl RtpEngine {
    /// Creates the engine; leg events go to `events`.
    pub fn new(range: PortRange, events: mpsc::UnboundedSender<MediaEvent>) -> Arc<RtpEngine> {
        Arc::new(RtpEngine {
            range,
            ports: PortAllocator::new(range),
            legs: Mutex::new(HashMap::new()),
            events,
        })
    }

    /// Number of live legs.
    pub fn leg_count(&self) -> usize {
        self.legs.lock().expect("legs lock").len()
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
            let rtp = UdpSocket::from_std(rtp)?;
            let rtcp = UdpSocket::from_std(rtcp)?;
            let local = rtp.local_addr()?;
            let (config, config_rx) = watch::channel(None);
            let task = tokio::spawn(receive(id, rtp, rtcp, config_rx, self.events.clone()));
            if let Some(old) = self
                .legs
                .lock()
                .expect("legs lock")
                .insert(id, Leg { config, task })
            {
                old.task.abort();
            }
            Ok(local)
        })
    }

    fn configure_leg(&self, id: LegId, media: LegMedia) -> MediaFuture<'_, ()> {
        Box::pin(async move {
            let legs = self.legs.lock().expect("legs lock");
            let leg = legs.get(&id).ok_or(MediaError::UnknownLeg(id))?;
            leg.config.send_replace(Some(media));
            Ok(())
        })
    }

    fn destroy_leg(&self, id: LegId) -> MediaFuture<'_, ()> {
        Box::pin(async move {
            if let Some(leg) = self.legs.lock().expect("legs lock").remove(&id) {
                leg.task.abort();
            }
            Ok(())
        })
    }
}

async fn receive(
    id: LegId,
    rtp: UdpSocket,
    rtcp: UdpSocket,
    config: watch::Receiver<Option<LegMedia>>,
    events: mpsc::UnboundedSender<MediaEvent>,
) {
    let mut buf = vec![0u8; 2048];
    let mut rtcp_buf = vec![0u8; 2048];
    let mut dtmf = DigitDetector::default();
    let mut malformed = 0u64;
    loop {
        tokio::select! {
            r = rtp.recv_from(&mut buf) => {
                let Ok((n, _from)) = r else { continue };
                let mut slice = &buf[..n];
                let Ok(header) = Header::unmarshal(&mut slice) else {
                    malformed += 1;
                    if malformed == 1 {
                        warn!(leg = id.0, "malformed RTP packet (counting further ones silently)");
                    }
                    continue;
                };
                let dtmf_pt = config.borrow().as_ref().and_then(|m| m.dtmf_payload_type);
                if Some(header.payload_type) == dtmf_pt {
                    if let Some(digit) = dtmf.on_packet(header.timestamp, slice) {
                        debug!(leg = id.0, %digit, "RFC 4733 digit");
                        let _ = events.send(MediaEvent::Dtmf { leg: id, digit });
                    }
                }
            }
            _ = rtcp.recv_from(&mut rtcp_buf) => {}
        }
    }
}
