//! The video half of a call's H.245 session: what the room's capability
//! set says it receives, our channel towards it (opened once the roles
//! and its capabilities are known: H.264 in mode 1 where it takes it,
//! else single NAL units; H.263 for a room without H.264), its channel
//! towards us, and
//! videoFastUpdatePicture asked of it on that channel.

use std::net::SocketAddr;

use h323_asn1::h245::{
    CommandMessage, H2250LogicalChannelAckParameters, LogicalChannelNumber, MiscellaneousCommand,
    MiscellaneousCommandType, MultimediaSystemControlMessage as Message, OpenLogicalChannelAck,
    OpenLogicalChannelAckForwardMultiplexAckParameters as AckParameters, RequestMessage,
    ResponseMessage, TerminalCapabilitySet,
};
use media_api::BoundStream;

use super::capabilities::{receivable_video, OurVideo, RoomVideo, VideoCap};
use super::channels::{
    sending, Carried, VideoChannel, DEFAULT_VIDEO_PAYLOAD_TYPE, H263_PAYLOAD_TYPE, VIDEO_SESSION,
};
use super::fast_start::AgreedVideo;
use super::h245_address::{h245_socket_addr, h245_transport};

/// The number of the video channel we open.
const OUR_VIDEO_CHANNEL: u16 = 2;

#[derive(Debug)]
pub struct H245Video {
    /// Where we receive the room's video RTP and RTCP.
    local: BoundStream,
    /// What we offer: the most we send or take, and whether H.263.
    pub offered: OurVideo,
    /// What the room receives, once its capability set came.
    room: Option<RoomVideo>,
    /// Our channel: opened by fast start, or requested with this number.
    ours: Option<Option<(u16, VideoChannel)>>,
    /// The room's channel to us.
    from_room: Option<u16>,
}

impl H245Video {
    pub fn new(local: BoundStream, offered: OurVideo) -> H245Video {
        H245Video {
            local,
            offered,
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

    /// The room's capabilities: what it receives of what we send.
    pub fn capabilities(&mut self, tcs: &TerminalCapabilitySet) {
        self.room = receivable_video(tcs)
            .filter(|r| self.offered.h263 || matches!(r.codec, VideoCap::H264(_)));
    }

    /// Our channel, once the room's capabilities say it takes H.264.
    pub fn open_ours(&mut self) -> Option<Message> {
        if self.ours.is_some() {
            return None;
        }
        let room = self.room?;
        let kbps = room
            .codec
            .limits()
            .max_kbps
            .map_or(self.offered.kbps, |k| k.min(self.offered.kbps));
        let (carried, payload_type) = match room.codec {
            VideoCap::H264(h264) => {
                let carried = Carried::H264 {
                    level_idc: h264.level_idc,
                    limits: h264.limits,
                    kbps,
                    payload_type: DEFAULT_VIDEO_PAYLOAD_TYPE,
                    mode: u8::from(room.mode_1),
                };
                (carried, DEFAULT_VIDEO_PAYLOAD_TYPE)
            }
            VideoCap::H263(_) => (Carried::H263 { kbps }, H263_PAYLOAD_TYPE),
        };
        let channel = VideoChannel {
            codec: room.codec,
            payload_type,
            mode: u8::from(room.mode_1),
        };
        self.ours = Some(Some((OUR_VIDEO_CHANNEL, channel)));
        let olc = sending(OUR_VIDEO_CHANNEL, carried, self.local.rtcp)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use h323_asn1::h245::{
        Capability, CapabilityTableEntry, CapabilityTableEntryNumber, DataType,
        H263VideoCapability, OpenLogicalChannel, SequenceNumber, VideoCapability,
    };
    use h323_asn1::rasn::types::SetOf;
    use media_api::StreamKind;

    use crate::h323::capabilities::h245_protocol_identifier;

    fn video(h263: bool) -> H245Video {
        let local = BoundStream {
            kind: StreamKind::Video,
            rtp: "127.0.0.1:40002".parse().unwrap(),
            rtcp: "127.0.0.1:40003".parse().unwrap(),
            dtls_fingerprint: None,
        };
        H245Video::new(local, OurVideo { kbps: 1920, h263 })
    }

    /// A room's capability set with only H.263 (QCIF and CIF, 384 kbit/s).
    fn h263_only() -> TerminalCapabilitySet {
        let mut cif = H263VideoCapability::required(3840, false, false, false, false, false);
        cif.cif_mpi = Some(1);
        cif.qcif_mpi = Some(1);
        let entry = CapabilityTableEntry::required(CapabilityTableEntryNumber(1)).with_capability(
            Capability::receiveVideoCapability(VideoCapability::h263VideoCapability(cif)),
        );
        TerminalCapabilitySet::required(SequenceNumber(1), h245_protocol_identifier())
            .with_capability_table(SetOf::from_vec(vec![entry]))
    }

    /// A room whose capability set has only H.263 (CIF) is sent H.263:
    /// our channel names it, on its static payload type.
    #[test]
    fn a_room_with_only_h263_is_opened_an_h263_channel() {
        let mut video = video(true);
        let tcs = h263_only();
        video.capabilities(&tcs);
        let Some(Message::request(RequestMessage::openLogicalChannel(olc))) = video.open_ours()
        else {
            panic!("no channel opened");
        };
        let params = &olc.forward_logical_channel_parameters;
        let DataType::videoData(VideoCapability::h263VideoCapability(ours)) = &params.data_type
        else {
            panic!("not H.263: {:?}", params.data_type);
        };
        assert_eq!(ours.max_bit_rate, 3840, "the room's 384 kbit/s");
        let channel = video.ours(OUR_VIDEO_CHANNEL).unwrap();
        assert_eq!(channel.payload_type, H263_PAYLOAD_TYPE);
        assert_eq!(channel.codec.limits().max_fs, 396);
        // What we send encodes and decodes as H.245 does.
        let bytes = h323_asn1::encode(&olc).unwrap();
        assert_eq!(
            h323_asn1::decode::<OpenLogicalChannel>(&bytes).unwrap(),
            olc
        );
    }

    /// Without `h263` in `media.video_codecs`, such a room gets no video.
    #[test]
    fn without_h263_configured_an_h263_room_gets_no_video_channel() {
        let mut video = video(false);
        video.capabilities(&h263_only());
        assert!(video.open_ours().is_none());
    }
}
