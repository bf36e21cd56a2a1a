//! H.323 calls in the core. A Setup on a call-signalling connection
//! becomes a call like an INVITE does — same admission, IVR, media leg and
//! meeting — answered with CallProceeding at once and Connect once
//! admitted (carrying the fast-start answer), after which H.245 runs
//! tunnelled or on its own connection. H.245 and keypad digits feed the
//! IVR, the room's channels configure the media leg, and a call ends with
//! endSessionCommand and ReleaseComplete carrying the Q.931 cause and
//! H.225.0 reason that say why.

use media_api::{LegId, VideoCodec};
use tracing::{debug, info, info_span, warn};

use super::call_rate;
use super::edges::Edges;
use super::io::Output;
use crate::call::{Call, LocalMedia, NewCall};
use crate::controller::RoomEvent;
use crate::dialstring;
use crate::h323::capabilities::OurVideo;
use crate::h323::channel_media::ChannelMedia;
use crate::h323::fast_start;
use crate::h323::h225_call::{Event as CallEvent, H225Call, IncomingSetup};
use crate::h323::h245::{H245Event, H245Session};
use crate::h323::io::{H323Input, H323Output};
use crate::h323::leg::{H245Link, H323Leg};
use crate::h323::release::cause_and_reason;
use crate::release::Release;
use crate::sdp::Encryption;
use crate::sip::{Flow, Transport};

impl Edges {
    pub(super) fn on_h323(&mut self, input: H323Input) {
        match input {
            H323Input::CallSignalling {
                conn,
                remote,
                local,
                data,
            } => {
                let flow = Flow {
                    transport: Transport::Tcp,
                    remote,
                    local,
                    conn,
                };
                self.on_call_signalling(flow, &data)
            }
            H323Input::CallSignallingClosed { conn } => {
                if let Some(&leg) = self.h323_conns.get(&conn) {
                    info!(
                        leg = leg.0,
                        "the room closed its call-signalling connection"
                    );
                    self.h323_gone(leg);
                }
            }
            H323Input::CallSignallingConnected { leg, conn } => self.h323_dial_connected(leg, conn),
            H323Input::DialFailed { leg } => {
                info!(
                    leg = leg.0,
                    "the room's call-signalling address did not answer"
                );
                self.gone(leg);
            }
            H323Input::H245Listening { leg, result } => match result {
                Ok(addr) => {
                    let addr = self.cfg.seen(addr);
                    if let Some(h) = self.h323_leg(leg) {
                        if h.link == H245Link::Listening(None) {
                            h.link = H245Link::Listening(Some(addr));
                        }
                    }
                    self.h323_connect(leg);
                }
                Err(e) => {
                    warn!(leg = leg.0, error = %e, "no H.245 listener");
                    self.fail(leg, Release::Unavailable, "No H.245 listener");
                }
            },
            H323Input::H245Connected { leg } => {
                let Some(h) = self.h323_leg(leg) else {
                    self.h323_out(H323Output::CloseH245 { leg });
                    return;
                };
                h.link = H245Link::Up;
                self.h323_start_h245(leg);
            }
            H323Input::H245 { leg, data } => self.on_h245(leg, data.to_vec()),
            H323Input::H245Closed { leg } => {
                let Some(h) = self.h323.get(&leg) else {
                    return;
                };
                if h.link != H245Link::Up && h.channels.audio.is_some() {
                    // Fast start carries the media; H.245 is optional then.
                    info!(leg = leg.0, "the room opened no H.245 connection");
                    return;
                }
                info!(leg = leg.0, "the H.245 connection closed");
                self.fail(leg, Release::Normal, "H.245 connection closed");
            }
        }
    }

    fn h323_leg(&mut self, leg: LegId) -> Option<&mut H323Leg> {
        self.h323.get_mut(&leg)
    }

    fn h323_out(&mut self, o: H323Output) {
        self.out.push_back(Output::H323(o));
    }

    fn send_q931(&mut self, conn: u64, data: Vec<u8>) {
        self.h323_out(H323Output::CallSignalling {
            conn,
            data: data.into(),
        });
    }

    fn on_call_signalling(&mut self, flow: Flow, data: &[u8]) {
        let conn = flow.conn;
        let Some(&leg) = self.h323_conns.get(&conn) else {
            let mut signalling = H225Call::new();
            let (events, replies) = signalling.receive(data);
            for r in replies {
                self.send_q931(conn, r);
            }
            let mut events = events.into_iter();
            match events.next() {
                Some(CallEvent::Setup(setup)) => {
                    let early = events.filter_map(|e| match e {
                        CallEvent::H245(m) => Some(m),
                        _ => None,
                    });
                    let early = early.collect();
                    self.on_setup(flow, signalling, setup, early);
                }
                _ if signalling.is_released() => {
                    self.h323_out(H323Output::CloseCallSignalling { conn })
                }
                _ => {}
            }
            return;
        };
        let h = self.h323_leg(leg).expect("connection maps to a call");
        let (events, replies) = h.signalling.receive(data);
        for r in replies {
            self.send_q931(conn, r);
        }
        for event in events {
            match event {
                CallEvent::H245(m) => self.on_h245(leg, m),
                CallEvent::Digits(digits) => {
                    for digit in digits.chars() {
                        self.report(RoomEvent::Digit { leg, digit });
                    }
                }
                CallEvent::Released(cause) => {
                    info!(leg = leg.0, ?cause, "the room released the call");
                    self.h323_gone(leg);
                }
                CallEvent::Progress(p) => self.h323_progress(leg, p),
                CallEvent::Setup(_) => {}
            }
        }
    }

    /// A new call: CallProceeding at once, then the meeting's lookup or
    /// the IVR, like an INVITE.
    fn on_setup(
        &mut self,
        flow: Flow,
        mut signalling: H225Call,
        setup: IncomingSetup,
        early_h245: Vec<Vec<u8>>,
    ) {
        let (conn, remote) = (flow.conn, flow.remote);
        let policy = self.room_policy(setup.source_aliases.iter().map(String::as_str));
        // H.323 calls are in clear (no H.235 media security here): a
        // required policy refuses them with securityDenied.
        let refusal = if self.shutting_down {
            Some(Release::Unavailable)
        } else if self.encryption_of(policy) == Encryption::Required {
            info!(room = %remote, "H.323 call refused: encryption is required (media.encryption or the room's account)");
            self.refused += 1;
            Some(Release::NotEncrypted)
        } else {
            None
        };
        if let Some(release) = refusal {
            self.turned_away += 1;
            let (q931, reason) = cause_and_reason(release);
            self.send_q931(conn, signalling.release(q931, reason));
            self.h323_out(H323Output::CloseCallSignalling { conn });
            return;
        }
        let leg = self.new_leg();
        let call_id = signalling.call_id();
        let dialed = setup.dial.clone().unwrap_or_default();
        let dial = dialstring::parse(&dialed);
        let _span = info_span!("call", call_id = %call_id, room = %remote, leg = leg.0).entered();
        info!(dialed = %dialed, display = %setup.caller, "incoming H.323 call");
        self.send_q931(conn, signalling.proceeding(None));
        let display_name = setup.caller.clone();
        let mut h = H323Leg::new(conn, signalling, setup);
        h.call_rate_kbps = policy.max_call_rate_kbps;
        h.early_h245 = early_h245;
        self.h323.insert(leg, h);
        self.h323_conns.insert(conn, leg);
        self.report(RoomEvent::Incoming(NewCall {
            leg,
            display_name,
            caller: format!("h323:{}", remote.ip()),
            remote,
            local_ip: flow.local.ip(),
            number: dial.number,
            password: dial.password,
            layout: dial.layout,
            media: None,
            video: self.h264_kbps(None).is_some(),
            clear_only: true,
        }));
    }

    /// Answering: the H.245 connection unless tunnelled.
    pub(super) fn h323_answer(&mut self, call: &Call) {
        let (leg, ip) = (call.leg, call.local_ip);
        let Some(h) = self.h323_leg(leg) else { return };
        let link = match (h.link, h.setup.h245_address) {
            (H245Link::Dialing, Some(to)) => Some(H323Output::ConnectH245 { leg, to }),
            (H245Link::Listening(None), _) => Some(H323Output::ListenH245 { leg, ip }),
            _ => None,
        };
        if let Some(o) = link {
            self.h323_out(o);
        }
    }

    /// The most we send of H.264 to a room of `call_rate` (its own,
    /// kbit/s), when video is on.
    pub(super) fn h264_kbps(&self, call_rate: Option<u32>) -> Option<u32> {
        let codecs = call_rate::capped(&self.cfg.codecs, call_rate);
        let video = codecs.video?;
        video
            .codecs
            .contains(&VideoCodec::H264)
            .then_some(video.max_kbps)
    }

    /// A new H.245 session for a leg bound at `local`, of `call_rate`:
    /// video (H.264, and H.263 when configured) when it is on.
    pub(super) fn h245_session(&self, local: LocalMedia, call_rate: Option<u32>) -> H245Session {
        let (rtp, rtcp) = (local.audio.rtp, local.audio.rtcp);
        let session = H245Session::new(self.cfg.codecs.audio.clone(), rtp, rtcp, rand::random());
        let h263 = self
            .cfg
            .codecs
            .video
            .as_ref()
            .is_some_and(|v| v.codecs.contains(&VideoCodec::H263));
        match (local.video, self.h264_kbps(call_rate)) {
            (Some(video), Some(kbps)) => session.with_video(video, OurVideo { kbps, h263 }),
            _ => session,
        }
    }

    /// The media leg exists: answer fast start, set up H.245, connect.
    pub(super) fn h323_leg_created(&mut self, call: &Call, local: LocalMedia) {
        let leg = call.leg;
        let codecs = self.cfg.codecs.audio.clone();
        let Some((call_rate, identity)) = self
            .h323
            .get(&leg)
            .map(|h| (h.call_rate_kbps, h.signalling.call_id()))
        else {
            return;
        };
        let granted = self.granted_video_kbps(&identity);
        // H.323 carries H.264 and H.263 of the codecs we take.
        let video_codecs: Vec<VideoCodec> = (self.cfg.codecs.video.iter())
            .flat_map(|v| v.codecs.iter().copied())
            .filter(|c| matches!(c, VideoCodec::H264 | VideoCodec::H263))
            .collect();
        let mut session = self.h245_session(local, call_rate);
        let video_kbps = self.h264_kbps(call_rate).unwrap_or(0);
        let h = self.h323.get_mut(&leg).expect("checked");
        h.shown_as = call.meeting().unwrap_or("MRA").to_owned();
        h.channels = ChannelMedia::new(video_kbps);
        h.channels.granted_kbps = granted;
        let video = local.video.filter(|_| video_kbps > 0);
        let fast = fast_start::answer(
            &h.setup.fast_start,
            &codecs,
            local.audio,
            video.map(|v| (v, video_codecs.as_slice())),
        );
        h.setup.fast_start = Vec::new();
        if let Some(f) = fast {
            let agreed = f.agreed;
            session.fast_started(agreed.codec);
            h.setup.fast_start = f.answers;
            h.channels.audio = Some((agreed.codec, Some(agreed.room_rtp), agreed.room_rtcp));
            if let Some(video) = agreed.video {
                session.fast_started_video(&video);
                h.channels.fast_started_video(&video);
            }
            self.h323_report_media(leg);
        }
        self.h323_leg(leg).expect("checked").h245 = Some(session);
        self.h323_connect(leg);
    }

    /// Tells the controller the leg's media as its channels now stand.
    pub(super) fn h323_report_media(&mut self, leg: LegId) {
        let media = self.h323.get(&leg).and_then(|h| h.channels.leg_media());
        if let Some(media) = media {
            self.report(RoomEvent::Media { leg, media });
        }
    }

    /// Asks the room for a keyframe: videoFastUpdatePicture on its channel.
    pub(super) fn h323_ask_keyframe(&mut self, leg: LegId) {
        let ask = self
            .h323
            .get(&leg)
            .and_then(|h| h.h245.as_ref()?.fast_update());
        if let Some(ask) = ask {
            self.send_h245(leg, vec![ask]);
        }
    }

    /// Connect, once the media leg is up and the H.245 address (if we
    /// listen) known; then H.245 starts if it can already.
    fn h323_connect(&mut self, leg: LegId) {
        let Some(h) = self.h323.get_mut(&leg) else {
            return;
        };
        let h245_address = match h.link {
            H245Link::Listening(None) => return,
            H245Link::Listening(Some(a)) => Some(a),
            _ => None,
        };
        if h.connected || h.h245.is_none() {
            return;
        }
        h.connected = true;
        let answers = std::mem::take(&mut h.setup.fast_start);
        let connect = h.signalling.connect(answers, h245_address, &h.shown_as);
        let conn = h.conn;
        self.send_q931(conn, connect);
        // Tunnelled, or our connection to the caller is already up.
        self.h323_start_h245(leg);
    }

    /// Our capabilities and MSD, then what the room sent before.
    pub(super) fn h323_start_h245(&mut self, leg: LegId) {
        let Some(h) = self.h323_leg(leg) else { return };
        if h.h245_started || !h.h245_open() {
            return;
        }
        let Some(session) = h.h245.as_mut() else {
            return;
        };
        h.h245_started = true;
        let first = session.start();
        let early = std::mem::take(&mut h.early_h245);
        self.send_h245(leg, first);
        for m in early {
            self.on_h245(leg, m);
        }
    }

    fn send_h245(&mut self, leg: LegId, messages: Vec<Vec<u8>>) {
        let Some(h) = self.h323.get_mut(&leg) else {
            return;
        };
        let conn = h.conn;
        for m in messages {
            match h.link {
                H245Link::Tunnel => {
                    if let Some(facility) = h.signalling.tunnel(m) {
                        self.out.push_back(Output::H323(H323Output::CallSignalling {
                            conn,
                            data: facility.into(),
                        }));
                    }
                }
                H245Link::Up => self.out.push_back(Output::H323(H323Output::H245 {
                    leg,
                    data: m.into(),
                })),
                _ => debug!(leg = leg.0, "H.245 not connected; message dropped"),
            }
        }
    }

    fn on_h245(&mut self, leg: LegId, message: Vec<u8>) {
        let Some(h) = self.h323_leg(leg) else { return };
        let Some(session) = h.h245.as_mut().filter(|_| h.h245_started) else {
            h.early_h245.push(message);
            return;
        };
        let (events, replies) = session.receive(&message);
        self.send_h245(leg, replies);
        for event in events {
            self.on_h245_event(leg, event);
        }
    }

    fn on_h245_event(&mut self, leg: LegId, event: H245Event) {
        let Some(h) = self.h323.get_mut(&leg) else {
            return;
        };
        let c = &mut h.channels;
        match event {
            H245Event::AudioFromRoom { codec, .. } if c.audio.is_none() => {
                c.audio = Some((codec, None, None))
            }
            H245Event::AudioToRoom { codec, rtp, rtcp } => c.audio = Some((codec, Some(rtp), rtcp)),
            H245Event::AudioToRoomClosed => match &mut c.audio {
                Some(audio) => *audio = (audio.0, None, None),
                None => return,
            },
            H245Event::VideoFromRoom { video, .. } => c.video_from_room = Some(video),
            H245Event::VideoFromRoomClosed => c.video_from_room = None,
            H245Event::VideoToRoom { video, rtp, rtcp } => {
                c.video_to_room = Some((video, Some(rtp), rtcp))
            }
            H245Event::VideoToRoomClosed => c.video_to_room = None,
            H245Event::FlowControl(kbps) => c.flow_control_kbps = kbps,
            H245Event::FastUpdate => return self.report(RoomEvent::KeyframeWanted { leg }),
            H245Event::Dtmf(digit) => return self.report(RoomEvent::Digit { leg, digit }),
            H245Event::EndSession => {
                info!(leg = leg.0, "the room ended the H.245 session");
                return self.fail(leg, Release::Normal, "Room ended the session");
            }
            other => return debug!(leg = leg.0, event = ?other, "H.245"),
        }
        self.h323_report_media(leg);
    }

    /// We end the call: endSessionCommand, ReleaseComplete saying `why`,
    /// connections closed.
    pub(super) fn h323_release(&mut self, leg: LegId, why: Release, text: &str) {
        let Some(h) = self.h323_leg(leg) else {
            return self.gone(leg);
        };
        let end = h
            .h245
            .as_ref()
            .filter(|_| h.h245_started && h.h245_open())
            .map(H245Session::end);
        if let Some(end) = end {
            self.send_h245(leg, vec![end]);
        }
        let (q931, reason) = cause_and_reason(why);
        let h = self.h323_leg(leg).expect("checked");
        let release = h.signalling.release(q931, reason);
        let conn = h.conn;
        info!(
            leg = leg.0,
            cause = q931,
            reason = text,
            "releasing the H.323 call"
        );
        self.send_q931(conn, release);
        self.h323_gone(leg);
    }

    /// The call is over on the wire: close its connections, end it.
    fn h323_gone(&mut self, leg: LegId) {
        let Some(h) = self.h323_leg(leg) else { return };
        let (conn, separate) = (h.conn, h.link != H245Link::Tunnel);
        self.h323_out(H323Output::CloseCallSignalling { conn });
        if separate {
            self.h323_out(H323Output::CloseH245 { leg });
        }
        self.gone(leg);
    }
}
