//! Calling an H.323 room out into a meeting (the operator's invite to a
//! room registered with our gatekeeper; as the gatekeeper we need no ARQ).
//! A media leg and the call-signalling connection first, then our Setup
//! with fast-start proposals and H.245 tunnelling offered; the room's
//! CallProceeding/Alerting show as dialing/ringing, its fast-start answer
//! configures the leg, and its Connect joins it to the meeting. From then
//! on it is an H.323 call like any other.

use std::net::{IpAddr, SocketAddr};

use media_api::{Encryption, LegId};
use meeting::Meeting;
use tracing::info;

use super::edges::Edges;
use super::io::Output;
use super::room_policy;
use crate::call::{LocalMedia, NewCall};
use crate::controller::RoomEvent;
use crate::h323::channel_media::ChannelMedia;
use crate::h323::fast_start;
use crate::h323::h225_call::{CalleeProgress, H225Call, IncomingSetup};
use crate::h323::io::H323Output;
use crate::h323::leg::{H245Link, H323Leg};

/// An H.323 room to call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct H323DialTarget {
    /// Its call-signalling address (from its registration).
    pub call_signal: SocketAddr,
    /// Our address towards it (media and H.245 bind there).
    pub local: IpAddr,
    /// The alias to put in the Setup.
    pub alias: String,
    /// The room's name in the meeting.
    pub display_name: String,
    /// Its account's own call rate, kbit/s.
    pub max_call_rate_kbps: Option<u32>,
    /// Its account's own encryption policy.
    pub encryption: Option<Encryption>,
}

impl Edges {
    /// An H.323 call to `target` into `meeting`, its call-signalling
    /// connection being opened: the call for the controller, or why not.
    pub(super) fn dial_h323(
        &mut self,
        target: H323DialTarget,
        meeting: &Meeting,
    ) -> Result<NewCall, String> {
        self.may_dial()?;
        let policy = room_policy::encryption(
            self.cfg.encryption,
            target.encryption,
            meeting.requires_encryption(),
        );
        if policy == Encryption::Required {
            return Err("encryption is required, and H.323 calls are in clear".into());
        }
        let leg = self.new_leg();
        info!(room = %target.alias, at = %target.call_signal, meeting = %meeting.number, "calling an H.323 room out");
        let ours = IncomingSetup {
            dial: Some(target.alias.clone()),
            caller: meeting.name.clone(),
            source_aliases: Vec::new(),
            fast_start: Vec::new(),
            h245_tunnelling: true,
            h245_address: None,
        };
        let mut h = H323Leg::new(0, H225Call::new(), ours);
        h.call_rate_kbps = target.max_call_rate_kbps;
        self.h323.insert(leg, h);
        self.out
            .push_back(Output::H323(H323Output::ConnectCallSignalling {
                leg,
                to: target.call_signal,
            }));
        Ok(NewCall {
            leg,
            display_name: target.display_name,
            caller: format!("h323:{}@{}", target.alias, target.call_signal),
            remote: target.call_signal,
            local_ip: target.local,
            number: None,
            password: None,
            layout: None,
            media: None,
            video: self.h264_kbps(None).is_some(),
            clear_only: true,
        })
    }

    /// The call-signalling connection to the room is up.
    pub(super) fn h323_dial_connected(&mut self, leg: LegId, conn: u64) {
        let Some(h) = self.h323.get_mut(&leg) else {
            self.out
                .push_back(Output::H323(H323Output::CloseCallSignalling { conn }));
            return;
        };
        h.conn = conn;
        self.h323_conns.insert(conn, leg);
        if let Some(local) = h.local_media {
            self.h323_send_setup(leg, local);
        }
    }

    /// Our Setup, once both the connection and the media leg are there:
    /// audio and H.264 proposed in fast start (video opens over H.245
    /// instead when the room takes none of it).
    pub(super) fn h323_send_setup(&mut self, leg: LegId, local: LocalMedia) {
        let codecs = self.cfg.codecs.audio.clone();
        let Some(call_rate) = self.h323.get(&leg).map(|h| h.call_rate_kbps) else {
            return;
        };
        let session = self.h245_session(local, call_rate);
        let video_kbps = self.h264_kbps(call_rate).unwrap_or(0);
        let h = self.h323.get_mut(&leg).expect("checked");
        h.local_media = Some(local);
        let (rtp, rtcp) = (local.audio.rtp, local.audio.rtcp);
        if h.conn == 0 || h.h245.is_some() {
            return;
        }
        h.h245 = Some(session);
        h.channels = ChannelMedia::new(video_kbps);
        let mut proposals = fast_start::propose(&codecs, rtp, rtcp);
        if let Some(video) = local.video.filter(|_| video_kbps > 0) {
            proposals.extend(fast_start::propose_video(video, video_kbps));
        }
        let alias = h.setup.dial.clone().unwrap_or_default();
        let setup = h.signalling.setup(&alias, &h.setup.caller, proposals);
        let conn = h.conn;
        self.out.push_back(Output::H323(H323Output::CallSignalling {
            conn,
            data: setup.into(),
        }));
    }

    /// The called room's CallProceeding, Alerting, Progress or Connect.
    pub(super) fn h323_progress(&mut self, leg: LegId, p: CalleeProgress) {
        let codecs = self.cfg.codecs.audio.clone();
        if !self.h323.contains_key(&leg) {
            return;
        }
        if p.ringing {
            self.report(RoomEvent::Ringing { leg });
        }
        let h = self.h323.get_mut(&leg).expect("checked");
        if let (H245Link::Tunnel, false, Some(to)) = (h.link, p.h245_tunnelling, p.h245_address) {
            h.link = H245Link::Dialing;
            self.out
                .push_back(Output::H323(H323Output::ConnectH245 { leg, to }));
        }
        let h = self.h323.get_mut(&leg).expect("checked");
        if let Some(agreed) = fast_start::accepted(&p.fast_start, &codecs) {
            if let Some(session) = h.h245.as_mut() {
                session.fast_started(agreed.codec);
                if let Some(video) = &agreed.video {
                    session.fast_started_video(video);
                }
            }
            h.channels.audio = Some((agreed.codec, Some(agreed.room_rtp), agreed.room_rtcp));
            if let Some(video) = &agreed.video {
                h.channels.fast_started_video(video);
            }
            self.h323_report_media(leg);
        }
        if p.connected {
            self.h323_answered(leg);
        }
    }

    /// The room answered: it joins the meeting, H.245 starts.
    fn h323_answered(&mut self, leg: LegId) {
        let Some(h) = self.h323.get_mut(&leg).filter(|h| !h.connected) else {
            return;
        };
        h.connected = true;
        info!(leg = leg.0, "the H.323 room answered");
        self.report(RoomEvent::Answered { leg });
        self.h323_start_h245(leg);
    }
}
