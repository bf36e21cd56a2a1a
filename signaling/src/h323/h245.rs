//! One call's H.245 control channel (tunnelled or on its own TCP
//! connection, the transport is the driver's): capability exchange,
//! master/slave determination, the room's audio logical channel (accepted
//! with our RTP and RTCP addresses, or rejected with the reason), H.264
//! video channels both ways (`h245_video`), closeLogicalChannel,
//! roundTripDelay, user input (alphanumeric and signal, as DTMF),
//! videoFastUpdatePicture and flowControlCommand, and endSession.
//! A message that does not decode gets functionNotSupported with the
//! bytes returned; a request we do not serve gets functionNotUnderstood.
//! Sans-IO: encoded messages in, events and encoded messages out.

use std::net::SocketAddr;

use h323_asn1::h245::{
    CloseLogicalChannel, CloseLogicalChannelAck, CloseLogicalChannelSource, CommandMessage,
    DataType, EndSessionCommand, FlowControlCommandRestriction, FunctionNotSupported,
    FunctionNotSupportedCause, FunctionNotUnderstood, H2250LogicalChannelAckParameters,
    IndicationMessage, MasterSlaveDetermination, MasterSlaveDeterminationAck,
    MasterSlaveDeterminationAckDecision, MasterSlaveDeterminationReject,
    MasterSlaveDeterminationRejectCause, MiscellaneousCommandType,
    MultimediaSystemControlMessage as Message, OpenLogicalChannel, OpenLogicalChannelAck,
    OpenLogicalChannelAckForwardMultiplexAckParameters,
    OpenLogicalChannelForwardLogicalChannelParametersMultiplexParameters as Multiplex,
    OpenLogicalChannelReject, OpenLogicalChannelRejectCause, RequestChannelCloseAck,
    RequestMessage, ResponseMessage, RoundTripDelayResponse, TerminalCapabilitySetAck,
    UserInputIndication,
};
use h323_asn1::rasn::types::OctetString;
use media_api::{AudioCodec, BoundStream};

use super::capabilities::{audio, codec_of, receivable, terminal_capability_set, OurVideo};
use super::channels::{sending, Carried, VideoChannel};
use super::fast_start::AgreedVideo;
use super::h245_address::{h245_socket_addr, h245_transport};
use super::h245_video::{acked_addresses, H245Video};
use super::msd::{Answer, Decision, MasterSlave, MCU_TERMINAL_TYPE};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum H245Event {
    /// Master/slave determination finished: our role.
    Role(Decision),
    /// The audio codecs the room can receive.
    RemoteCapabilities(Vec<AudioCodec>),
    /// The room opened its audio channel towards us with `codec`; its RTCP
    /// address when it gave one.
    AudioFromRoom {
        channel: u16,
        codec: AudioCodec,
        rtcp: Option<SocketAddr>,
    },
    /// The room accepted our audio channel: send `codec` to `rtp`.
    AudioToRoom {
        codec: AudioCodec,
        rtp: SocketAddr,
        rtcp: Option<SocketAddr>,
    },
    /// The room opened its video channel towards us.
    VideoFromRoom {
        channel: u16,
        video: VideoChannel,
    },
    /// The room accepted our video channel: send `video` to `rtp`.
    VideoToRoom {
        video: VideoChannel,
        rtp: SocketAddr,
        rtcp: Option<SocketAddr>,
    },
    ChannelClosed(u16),
    /// The room closed its video channel.
    VideoFromRoomClosed,
    /// The room asked us to close our channel; we did.
    AudioToRoomClosed,
    VideoToRoomClosed,
    Dtmf(char),
    /// The room asks for a key frame.
    FastUpdate,
    /// The room limits what we send it (kbit/s; None: no limit).
    FlowControl(Option<u32>),
    EndSession,
}

#[derive(Debug)]
pub struct H245Session {
    codecs: Vec<AudioCodec>,
    /// Where we receive the room's RTP and RTCP.
    rtp: SocketAddr,
    rtcp: SocketAddr,
    msd: MasterSlave,
    tcs_sequence: u8,
    /// What the room can receive, once its capability set came.
    receivable: Option<Vec<AudioCodec>>,
    /// The codec of the call, both ways, once one side chose it.
    codec: Option<AudioCodec>,
    /// Our audio channel towards the room, once opened (or fast started).
    ours: Option<OurChannel>,
    /// Video, when the leg has a video stream.
    video: Option<H245Video>,
}

/// Our channel to the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OurChannel {
    /// Opened by fast start: nothing to do over H.245.
    FastStart,
    /// openLogicalChannel sent with this number.
    Opened(u16),
}

/// The number of the audio channel we open.
const OUR_AUDIO_CHANNEL: u16 = 1;

impl H245Session {
    /// `random` seeds the status determination number.
    pub fn new(codecs: Vec<AudioCodec>, rtp: SocketAddr, rtcp: SocketAddr, random: u32) -> Self {
        H245Session {
            codecs,
            rtp,
            rtcp,
            msd: MasterSlave::new(MCU_TERMINAL_TYPE, random),
            tcs_sequence: 0,
            receivable: None,
            codec: None,
            ours: None,
            video: None,
        }
    }

    /// Video too: `ours` received at `local`.
    pub fn with_video(mut self, local: BoundStream, ours: OurVideo) -> Self {
        self.video = Some(H245Video::new(local, ours));
        self
    }

    /// Fast start opened these video channels.
    pub fn fast_started_video(&mut self, agreed: &AgreedVideo) {
        if let Some(video) = &mut self.video {
            video.fast_started(agreed);
        }
    }

    /// videoFastUpdatePicture for the room's video channel, if it has one.
    pub fn fast_update(&self) -> Option<Vec<u8>> {
        encode(&self.video.as_ref()?.fast_update()?)
    }

    /// Fast start settled the media: `codec` both ways, no channels to
    /// open over H.245.
    pub fn fast_started(&mut self, codec: AudioCodec) {
        self.codec = Some(codec);
        self.ours = Some(OurChannel::FastStart);
    }

    pub fn role(&self) -> Option<Decision> {
        self.msd.role
    }

    /// What we send first: our capabilities and our bid for master.
    pub fn start(&mut self) -> Vec<Vec<u8>> {
        self.tcs_sequence = self.tcs_sequence.wrapping_add(1);
        let video = self.video.as_ref().map(|v| v.offered);
        let tcs = terminal_capability_set(self.tcs_sequence, &self.codecs, video);
        let msd = MasterSlaveDetermination::new(self.msd.terminal_type, self.msd.number);
        [
            Message::request(RequestMessage::terminalCapabilitySet(tcs)),
            Message::request(RequestMessage::masterSlaveDetermination(msd)),
        ]
        .iter()
        .filter_map(encode)
        .collect()
    }

    /// endSessionCommand: we are leaving.
    pub fn end(&self) -> Vec<u8> {
        encode(&Message::command(CommandMessage::endSessionCommand(
            EndSessionCommand::disconnect(()),
        )))
        .unwrap_or_default()
    }

    /// Reads one message: events, and the messages to send back.
    pub fn receive(&mut self, bytes: &[u8]) -> (Vec<H245Event>, Vec<Vec<u8>>) {
        let message: Message = match h323_asn1::decode(bytes) {
            Ok(m) => m,
            Err(_) => {
                let reply = Message::indication(IndicationMessage::functionNotSupported(
                    FunctionNotSupported::required(FunctionNotSupportedCause::syntaxError(()))
                        .with_returned_function(OctetString::from(bytes.to_vec())),
                ));
                return (Vec::new(), encode(&reply).into_iter().collect());
            }
        };
        let mut events = Vec::new();
        let mut replies = Vec::new();
        match message {
            Message::request(r) => self.request(r, &mut events, &mut replies),
            Message::response(r) => self.response(r, &mut events, &mut replies),
            Message::command(c) => self.command(c, &mut events, &mut replies),
            Message::indication(i) => indication(i, &mut events),
            // Extensions of newer versions: nothing we can act on.
            _ => {}
        }
        if let Some(olc) = self.open_ours() {
            replies.push(olc);
        }
        let video = self.video.as_mut().filter(|_| self.msd.role.is_some());
        if let Some(olc) = video.and_then(H245Video::open_ours) {
            replies.push(olc);
        }
        (events, replies.iter().filter_map(encode).collect())
    }

    /// Our audio channel, once the room's capabilities and the roles are
    /// known: the call's codec if the room chose one, else the first of
    /// ours that the room can receive.
    fn open_ours(&mut self) -> Option<Message> {
        if self.ours.is_some() || self.msd.role.is_none() {
            return None;
        }
        let receivable = self.receivable.as_ref()?;
        let codec = self.codec.filter(|c| receivable.contains(c)).or_else(|| {
            self.codecs
                .iter()
                .copied()
                .find(|c| receivable.contains(c) && audio(*c).is_some())
        })?;
        self.codec = Some(codec);
        self.ours = Some(OurChannel::Opened(OUR_AUDIO_CHANNEL));
        let olc = sending(OUR_AUDIO_CHANNEL, Carried::Audio(codec), self.rtcp)?;
        Some(Message::request(RequestMessage::openLogicalChannel(olc)))
    }

    fn request(&mut self, r: RequestMessage, events: &mut Vec<H245Event>, out: &mut Vec<Message>) {
        match r {
            RequestMessage::terminalCapabilitySet(tcs) => {
                let codecs = receivable(&tcs);
                self.receivable = Some(codecs.clone());
                if let Some(video) = &mut self.video {
                    video.capabilities(&tcs);
                }
                events.push(H245Event::RemoteCapabilities(codecs));
                out.push(Message::response(
                    ResponseMessage::terminalCapabilitySetAck(TerminalCapabilitySetAck::required(
                        tcs.sequence_number,
                    )),
                ));
            }
            RequestMessage::masterSlaveDetermination(m) => {
                let answer = self
                    .msd
                    .on_request(m.terminal_type, m.status_determination_number);
                out.push(Message::response(match answer {
                    Answer::Ack(remote) => {
                        events.push(H245Event::Role(remote.opposite()));
                        ResponseMessage::masterSlaveDeterminationAck(msd_ack(remote))
                    }
                    Answer::Reject => ResponseMessage::masterSlaveDeterminationReject(
                        MasterSlaveDeterminationReject::new(
                            MasterSlaveDeterminationRejectCause::identicalNumbers(()),
                        ),
                    ),
                }));
            }
            RequestMessage::openLogicalChannel(olc) => out.push(self.open(olc, events)),
            RequestMessage::closeLogicalChannel(c) => {
                let number = c.forward_logical_channel_number.0;
                let video = self.video.as_ref().is_some_and(|v| v.is_from_room(number));
                events.push(match video {
                    true => H245Event::VideoFromRoomClosed,
                    false => H245Event::ChannelClosed(number),
                });
                out.push(Message::response(ResponseMessage::closeLogicalChannelAck(
                    CloseLogicalChannelAck::new(c.forward_logical_channel_number),
                )));
            }
            RequestMessage::requestChannelClose(r) => {
                let number = r.forward_logical_channel_number;
                out.push(Message::response(ResponseMessage::requestChannelCloseAck(
                    RequestChannelCloseAck::new(number.clone()),
                )));
                let video = self.video.as_mut().filter(|v| v.ours(number.0).is_some());
                let closed = match video {
                    Some(video) => {
                        video.closed_ours();
                        Some(H245Event::VideoToRoomClosed)
                    }
                    None => (self.ours == Some(OurChannel::Opened(number.0)))
                        .then_some(H245Event::AudioToRoomClosed),
                };
                if let Some(event) = closed {
                    events.push(event);
                    out.push(Message::request(RequestMessage::closeLogicalChannel(
                        CloseLogicalChannel::required(number, CloseLogicalChannelSource::user(())),
                    )));
                }
            }
            RequestMessage::roundTripDelayRequest(r) => {
                out.push(Message::response(ResponseMessage::roundTripDelayResponse(
                    RoundTripDelayResponse::new(r.sequence_number),
                )))
            }
            other => out.push(Message::indication(
                IndicationMessage::functionNotUnderstood(FunctionNotUnderstood::request(other)),
            )),
        }
    }

    /// The room's channel towards us: accepted when it carries a codec we
    /// speak over RTP.
    fn open(&mut self, olc: OpenLogicalChannel, events: &mut Vec<H245Event>) -> Message {
        let number = olc.forward_logical_channel_number.clone();
        let params = &olc.forward_logical_channel_parameters;
        if let (Multiplex::h2250LogicalChannelParameters(p), Some(video)) =
            (&params.multiplex_parameters, self.video.as_mut())
        {
            if let Some(channel) = VideoChannel::of(&params.data_type, p) {
                events.push(H245Event::VideoFromRoom {
                    channel: number.0,
                    video: channel,
                });
                return video.accept(number.0);
            }
        }
        // One codec both ways: the room's channel carries ours once chosen.
        let codec = match &params.data_type {
            DataType::audioData(a) => codec_of(a)
                .filter(|c| self.codecs.contains(c) && self.codec.is_none_or(|ours| ours == *c)),
            _ => None,
        };
        let h2250 = match &params.multiplex_parameters {
            Multiplex::h2250LogicalChannelParameters(p) => Some(p),
            _ => None,
        };
        let (Some(codec), Some(h2250)) = (codec, h2250) else {
            let cause = if h2250.is_none() {
                OpenLogicalChannelRejectCause::unsuitableReverseParameters(())
            } else {
                OpenLogicalChannelRejectCause::dataTypeNotSupported(())
            };
            return Message::response(ResponseMessage::openLogicalChannelReject(
                OpenLogicalChannelReject::required(number, cause),
            ));
        };
        self.codec = Some(codec);
        events.push(H245Event::AudioFromRoom {
            channel: number.0,
            codec,
            rtcp: h2250
                .media_control_channel
                .as_ref()
                .and_then(h245_socket_addr),
        });
        let ack = H2250LogicalChannelAckParameters::required()
            .with_session_id(h2250.session_id)
            .with_media_channel(h245_transport(self.rtp))
            .with_media_control_channel(h245_transport(self.rtcp))
            .with_flow_control_to_zero(false);
        Message::response(ResponseMessage::openLogicalChannelAck(
            OpenLogicalChannelAck::required(number).with_forward_multiplex_ack_parameters(OpenLogicalChannelAckForwardMultiplexAckParameters::h2250LogicalChannelAckParameters(ack)),
        ))
    }

    fn response(
        &mut self,
        r: ResponseMessage,
        events: &mut Vec<H245Event>,
        out: &mut Vec<Message>,
    ) {
        match r {
            ResponseMessage::masterSlaveDeterminationAck(a) => {
                let ours = match a.decision {
                    MasterSlaveDeterminationAckDecision::master(()) => Decision::Master,
                    MasterSlaveDeterminationAckDecision::slave(()) => Decision::Slave,
                };
                events.push(H245Event::Role(ours));
                if let Some(remote) = self.msd.on_ack(ours) {
                    out.push(Message::response(
                        ResponseMessage::masterSlaveDeterminationAck(msd_ack(remote)),
                    ));
                }
            }
            ResponseMessage::masterSlaveDeterminationReject(_) => {
                // Identical numbers: bid again with a new one.
                let next = self.msd.number.wrapping_mul(2_654_435_761).wrapping_add(1);
                self.msd = MasterSlave::new(MCU_TERMINAL_TYPE, next);
                out.push(Message::request(RequestMessage::masterSlaveDetermination(
                    MasterSlaveDetermination::new(self.msd.terminal_type, self.msd.number),
                )));
            }
            ResponseMessage::openLogicalChannelAck(ack) => {
                let number = ack.forward_logical_channel_number.0;
                let (Some(rtp), rtcp) = acked_addresses(&ack) else {
                    return;
                };
                if let Some(video) = self.video.as_ref().and_then(|v| v.ours(number)) {
                    events.push(H245Event::VideoToRoom { video, rtp, rtcp });
                } else if let (true, Some(codec)) =
                    (self.ours == Some(OurChannel::Opened(number)), self.codec)
                {
                    events.push(H245Event::AudioToRoom { codec, rtp, rtcp });
                }
            }
            // Acks of our capability set and the rest need no answer.
            _ => {}
        }
    }
}

impl H245Session {
    fn command(&self, c: CommandMessage, events: &mut Vec<H245Event>, out: &mut Vec<Message>) {
        match c {
            CommandMessage::endSessionCommand(_) => events.push(H245Event::EndSession),
            CommandMessage::miscellaneousCommand(m) => {
                if matches!(
                    m.r_type,
                    MiscellaneousCommandType::videoFastUpdatePicture(())
                ) {
                    events.push(H245Event::FastUpdate);
                }
            }
            // The room's limit on what we send it, in units of 100 bit/s:
            // it applies to our video (audio's rate is the codec's).
            CommandMessage::flowControlCommand(f) if self.video.is_some() => {
                events.push(H245Event::FlowControl(match f.restriction {
                    FlowControlCommandRestriction::maximumBitRate(hundreds) => Some(hundreds / 10),
                    FlowControlCommandRestriction::noRestriction(()) => None,
                }))
            }
            CommandMessage::flowControlCommand(_)
            | CommandMessage::sendTerminalCapabilitySet(_) => {}
            other => out.push(Message::indication(
                IndicationMessage::functionNotUnderstood(FunctionNotUnderstood::command(other)),
            )),
        }
    }
}

fn indication(i: IndicationMessage, events: &mut Vec<H245Event>) {
    if let IndicationMessage::userInput(input) = i {
        let text = match input {
            UserInputIndication::alphanumeric(s) => String::from_utf8_lossy(&s).into_owned(),
            UserInputIndication::signal(s) => s.signal_type.to_string(),
            _ => String::new(),
        };
        events.extend(
            text.chars()
                .filter(|c| c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D'))
                .map(H245Event::Dtmf),
        );
    }
}

fn msd_ack(remote: Decision) -> MasterSlaveDeterminationAck {
    MasterSlaveDeterminationAck::new(match remote {
        Decision::Master => MasterSlaveDeterminationAckDecision::master(()),
        Decision::Slave => MasterSlaveDeterminationAckDecision::slave(()),
    })
}

fn encode(m: &Message) -> Option<Vec<u8>> {
    h323_asn1::encode(m).ok()
}

#[cfg(test)]
mod tests {
    use h323_asn1::h245::{
        LogicalChannelNumber, MaintenanceLoopRequest, MaintenanceLoopRequestType,
        RequestChannelClose, RoundTripDelayRequest, SequenceNumber,
    };
    use h323_asn1::rasn::types::GeneralString;

    use super::*;

    fn session() -> H245Session {
        let addr = |p| SocketAddr::from(([127, 0, 0, 1], p));
        H245Session::new(vec![AudioCodec::Pcmu], addr(40000), addr(40001), 1)
    }

    fn ask(s: &mut H245Session, m: Message) -> (Vec<H245Event>, Vec<Message>) {
        let (events, replies) = s.receive(&encode(&m).unwrap());
        let replies = replies
            .iter()
            .map(|r| h323_asn1::decode(r).unwrap())
            .collect();
        (events, replies)
    }

    #[test]
    fn round_trip_delay_user_input_and_channel_close() {
        let mut s = session();
        let (_, r) = ask(
            &mut s,
            Message::request(RequestMessage::roundTripDelayRequest(
                RoundTripDelayRequest::new(SequenceNumber(9)),
            )),
        );
        assert!(matches!(
            &r[..],
            [Message::response(ResponseMessage::roundTripDelayResponse(x))] if x.sequence_number.0 == 9
        ));

        let digits = GeneralString::try_from("12#x").unwrap();
        let (e, r) = ask(
            &mut s,
            Message::indication(IndicationMessage::userInput(
                UserInputIndication::alphanumeric(digits),
            )),
        );
        assert_eq!(
            e,
            [
                H245Event::Dtmf('1'),
                H245Event::Dtmf('2'),
                H245Event::Dtmf('#')
            ]
        );
        assert!(r.is_empty());

        let (e, r) = ask(
            &mut s,
            Message::request(RequestMessage::closeLogicalChannel(
                CloseLogicalChannel::required(
                    LogicalChannelNumber(5),
                    CloseLogicalChannelSource::user(()),
                ),
            )),
        );
        assert_eq!(e, [H245Event::ChannelClosed(5)]);
        assert!(matches!(
            &r[..],
            [Message::response(ResponseMessage::closeLogicalChannelAck(
                _
            ))]
        ));
    }

    #[test]
    fn a_request_we_do_not_serve_is_not_understood() {
        let mut s = session();
        let (_, r) = ask(
            &mut s,
            Message::request(RequestMessage::maintenanceLoopRequest(
                MaintenanceLoopRequest::new(MaintenanceLoopRequestType::systemLoop(())),
            )),
        );
        assert!(matches!(
            &r[..],
            [Message::indication(
                IndicationMessage::functionNotUnderstood(FunctionNotUnderstood::request(
                    RequestMessage::maintenanceLoopRequest(_)
                ))
            )]
        ));
    }

    #[test]
    fn our_channel_opens_once_capabilities_and_roles_are_known() {
        let mut s = session();
        let tcs = terminal_capability_set(1, &[AudioCodec::Pcma, AudioCodec::Pcmu], None);
        let (e, r) = ask(
            &mut s,
            Message::request(RequestMessage::terminalCapabilitySet(tcs)),
        );
        assert_eq!(
            e,
            [H245Event::RemoteCapabilities(vec![
                AudioCodec::Pcma,
                AudioCodec::Pcmu
            ])]
        );
        assert_eq!(r.len(), 1, "only the ack before the roles are known");
        let (_, r) = ask(
            &mut s,
            Message::request(RequestMessage::masterSlaveDetermination(
                MasterSlaveDetermination::new(50, 7),
            )),
        );
        let Some(Message::request(RequestMessage::openLogicalChannel(olc))) = r.get(1) else {
            panic!("no channel opened: {r:?}");
        };
        assert_eq!(
            olc.forward_logical_channel_parameters.data_type,
            DataType::audioData(audio(AudioCodec::Pcmu).unwrap()),
            "our only codec the room can receive"
        );
        let number = olc.forward_logical_channel_number.clone();

        let room = SocketAddr::from(([127, 0, 0, 9], 5000));
        let ack = H2250LogicalChannelAckParameters::required()
            .with_session_id(1)
            .with_media_channel(h245_transport(room));
        let (e, _) = ask(
            &mut s,
            Message::response(ResponseMessage::openLogicalChannelAck(
                OpenLogicalChannelAck::required(number.clone()).with_forward_multiplex_ack_parameters(OpenLogicalChannelAckForwardMultiplexAckParameters::h2250LogicalChannelAckParameters(ack)),
            )),
        );
        assert_eq!(
            e,
            [H245Event::AudioToRoom {
                codec: AudioCodec::Pcmu,
                rtp: room,
                rtcp: None
            }]
        );

        let (e, r) = ask(
            &mut s,
            Message::request(RequestMessage::requestChannelClose(
                RequestChannelClose::required(number),
            )),
        );
        assert_eq!(e, [H245Event::AudioToRoomClosed]);
        assert!(matches!(
            &r[..],
            [
                Message::response(ResponseMessage::requestChannelCloseAck(_)),
                Message::request(RequestMessage::closeLogicalChannel(_))
            ]
        ));
    }
}
