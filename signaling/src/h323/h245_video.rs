//! The video half of a call's H.245 session: what the room's capability
//! set says it receives, our H.264 channel towards it (opened once the
//! roles and its capabilities are known, in mode 1 where it takes it,
//! else single NAL units), its channel towards us, and
//! videoFastUpdatePicture asked of it on that channel.

use std::net::SocketAddr;

use h323_asn1::h245::{
    CommandMessage, H2250LogicalChannelAckParameters, LogicalChannelNumber, MiscellaneousCommand,
    MiscellaneousCommandType, MultimediaSystemControlMessage as Message, OpenLogicalChannelAck,
    OpenLogicalChannelAckForwardMultiplexAckParameters as AckParameters, RequestMessage,
    ResponseMessage, TerminalCapabilitySet,
};
use media_api::BoundStream;

use super::capabilities::{receivable_video, RoomVideo};
use super::channels::{sending, Carried, VideoChannel, DEFAULT_VIDEO_PAYLOAD_TYPE, VIDEO_SESSION};
use super::fast_start::AgreedVideo;
use super::h245_address::{h245_socket_addr, h245_transport};

/// The number of the video channel we open.
const OUR_VIDEO_CHANNEL: u16 = 2;

#[derive(Debug)]
pub struct H245Video {
    /// Where we receive the room's video RTP and RTCP.
    local: BoundStream,
    /// The most we send or take, kbit/s.
    pub kbps: u32,
    /// What the room receives, once its capability set came.
    room: Option<RoomVideo>,
    /// Our channel: opened by fast start, or requested with this number.
    ours: Option<Option<(u16, VideoChannel)>>,
    /// The room's channel to us.
    from_room: Option<u16>,
}

impl H245Video {
    pub fn new(local: BoundStream, kbps: u32) -> H245Video {
        H245Video {
            local,
            kbps,
            room: None,
            ours: None,
            from_room: None,
        }
    }

    /// Fast start opened these channels.
    pub fn fast_started(&mut self, agreed: &AgreedVideo) {
        if agreed.to_room.is_some() {
            self.ours = Some(None);
        }
        self.from_room = agreed.from_room.map(|(number, _)| number);
    }

    pub fn capabilities(&mut self, tcs: &TerminalCapabilitySet) {
        self.room = receivable_video(tcs);
    }

    /// Our channel, once the room's capabilities say it takes H.264.
    pub fn open_ours(&mut self) -> Option<Message> {
        if self.ours.is_some() {
            return None;
        }
        let room = self.room?;
        let channel = VideoChannel {
            h264: room.h264,
            payload_type: DEFAULT_VIDEO_PAYLOAD_TYPE,
            mode: u8::from(room.mode_1),
        };
        self.ours = Some(Some((OUR_VIDEO_CHANNEL, channel)));
        let kbps = room
            .h264
            .limits
            .max_kbps
            .map_or(self.kbps, |k| k.min(self.kbps));
        let olc = sending(
            OUR_VIDEO_CHANNEL,
            Carried::H264 {
                level_idc: room.h264.level_idc,
                limits: room.h264.limits,
                kbps,
                payload_type: channel.payload_type,
                mode: channel.mode,
            },
            self.local.rtcp,
        )?;
        Some(Message::request(RequestMessage::openLogicalChannel(olc)))
    }

    /// The room opened its channel `number` towards us: the ack with our
    /// addresses.
    pub fn accept(&mut self, number: u16) -> Message {
        self.from_room = Some(number);
        let ack = H2250LogicalChannelAckParameters::required()
            .with_session_id(VIDEO_SESSION)
            .with_media_channel(h245_transport(self.local.rtp))
            .with_media_control_channel(h245_transport(self.local.rtcp))
            .with_flow_control_to_zero(false);
        Message::response(ResponseMessage::openLogicalChannelAck(
            OpenLogicalChannelAck::required(LogicalChannelNumber(number))
                .with_forward_multiplex_ack_parameters(
                    AckParameters::h2250LogicalChannelAckParameters(ack),
                ),
        ))
    }

    /// Our channel `number`, if it is our video channel, and what it carries.
    pub fn ours(&self, number: u16) -> Option<VideoChannel> {
        match self.ours {
            Some(Some((n, channel))) if n == number => Some(channel),
            _ => None,
        }
    }

    /// The room asked us to close our channel (or closed it).
    pub fn closed_ours(&mut self) {
        self.ours = Some(None);
    }

    /// Whether `number` is the room's video channel to us.
    pub fn is_from_room(&self, number: u16) -> bool {
        self.from_room == Some(number)
    }

    /// videoFastUpdatePicture on the room's channel, if it has one.
    pub fn fast_update(&self) -> Option<Message> {
        let number = self.from_room?;
        Some(Message::command(CommandMessage::miscellaneousCommand(
            MiscellaneousCommand::required(
                LogicalChannelNumber(number),
                MiscellaneousCommandType::videoFastUpdatePicture(()),
            ),
        )))
    }
}

/// Where an ack says the room receives our channel (RTP, RTCP).
pub fn acked_addresses(ack: &OpenLogicalChannelAck) -> (Option<SocketAddr>, Option<SocketAddr>) {
    let Some(AckParameters::h2250LogicalChannelAckParameters(p)) =
        &ack.forward_multiplex_ack_parameters
    else {
        return (None, None);
    };
    let address = |a: &Option<_>| a.as_ref().and_then(h245_socket_addr);
    (address(&p.media_channel), address(&p.media_control_channel))
}
