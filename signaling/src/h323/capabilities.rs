//! H.245 capabilities: the TerminalCapabilitySet we send (H.225.0 media
//! over RTP; G.711 µ-law and A-law and G.722 audio; H.264 video by H.241
//! with both packetization modes, or H.263 for older rooms; DTMF and
//! strings as user input) and what a room's set says it can receive.

use h323_asn1::h245::{
    AlternativeCapabilitySet, AudioCapability, Capability, CapabilityDescriptor,
    CapabilityDescriptorNumber, CapabilityTableEntry, CapabilityTableEntryNumber, H2250Capability,
    H2250CapabilityMcCapability, MediaDistributionCapability, MediaPacketizationCapability,
    MultiplexCapability, MultipointCapability, SequenceNumber, TerminalCapabilitySet,
    UserInputCapability, VideoCapability,
};
use h323_asn1::rasn::types::{ObjectIdentifier, SetOf};
use media_api::{AudioCodec, VideoCodec, VideoLimits};

use super::h263;
use super::h264::{self, H264};

/// H.245 version 15: { itu-t(0) recommendation(0) h(8) 245 version(0) 15 }.
pub fn h245_protocol_identifier() -> ObjectIdentifier {
    ObjectIdentifier::new_unchecked(vec![0, 0, 8, 245, 0, 15].into())
}

/// The capability of `codec` at 20 ms of audio per packet (G.711 and
/// G.722 count it in milliseconds).
pub fn audio(codec: AudioCodec) -> Option<AudioCapability> {
    match codec {
        AudioCodec::Pcmu => Some(AudioCapability::g711Ulaw64k(20)),
        AudioCodec::Pcma => Some(AudioCapability::g711Alaw64k(20)),
        AudioCodec::G722 => Some(AudioCapability::g722_64k(20)),
        _ => None,
    }
}

/// The codec a capability or data type names, if we speak it.
pub fn codec_of(audio: &AudioCapability) -> Option<AudioCodec> {
    match audio {
        AudioCapability::g711Ulaw64k(_) => Some(AudioCodec::Pcmu),
        AudioCapability::g711Alaw64k(_) => Some(AudioCodec::Pcma),
        AudioCapability::g722_64k(_) => Some(AudioCodec::G722),
        _ => None,
    }
}

/// Our H.264 capability: what we decode, at most `kbps`.
pub fn video(kbps: u32) -> VideoCapability {
    VideoCapability::genericVideoCapability(h264::capability(31, VideoLimits::HD1080, kbps))
}

/// A video codec as H.245 names it, with what it says of the pictures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCap {
    H264(H264),
    H263(VideoLimits),
}

impl VideoCap {
    pub fn codec(&self) -> VideoCodec {
        match self {
            VideoCap::H264(_) => VideoCodec::H264,
            VideoCap::H263(_) => VideoCodec::H263,
        }
    }

    pub fn limits(&self) -> VideoLimits {
        match self {
            VideoCap::H264(h264) => h264.limits,
            VideoCap::H263(limits) => *limits,
        }
    }

    /// H.264's profile-level-id (profile, constraints unknown, level).
    pub fn profile_level_id(&self) -> Option<[u8; 3]> {
        match self {
            VideoCap::H264(h) => Some([h.profile_idc, 0, h.level_idc]),
            VideoCap::H263(_) => None,
        }
    }
}

/// The video we offer: H.264, and H.263 when configured, at most `kbps`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OurVideo {
    pub kbps: u32,
    pub h263: bool,
}

/// Our capability set, in `codecs`' order of preference, with `video`
/// when it is on.
pub fn terminal_capability_set(
    sequence: u8,
    codecs: &[AudioCodec],
    video: Option<OurVideo>,
) -> TerminalCapabilitySet {
    let mut table = SetOf::new();
    let mut alternatives = Vec::new();
    let mut number = 0u16;
    let mut add = |capability: Capability, alternatives: &mut Vec<CapabilityTableEntryNumber>| {
        number += 1;
        table.insert(
            CapabilityTableEntry::required(CapabilityTableEntryNumber(number))
                .with_capability(capability),
        );
        alternatives.push(CapabilityTableEntryNumber(number));
    };
    let mut audio_set = Vec::new();
    for c in codecs.iter().filter_map(|&c| audio(c)) {
        add(
            Capability::receiveAndTransmitAudioCapability(c),
            &mut audio_set,
        );
    }
    alternatives.push(AlternativeCapabilitySet(audio_set));
    if let Some(OurVideo { kbps, h263 }) = video {
        let mut video_set = Vec::new();
        add(
            Capability::receiveAndTransmitVideoCapability(self::video(kbps)),
            &mut video_set,
        );
        if h263 {
            let h263 = VideoCapability::h263VideoCapability(h263::capability(kbps));
            add(
                Capability::receiveAndTransmitVideoCapability(h263),
                &mut video_set,
            );
        }
        alternatives.push(AlternativeCapabilitySet(video_set));
    }
    for input in [
        UserInputCapability::basicString(()),
        UserInputCapability::dtmf(()),
    ] {
        let mut one = Vec::new();
        add(Capability::receiveUserInputCapability(input), &mut one);
        alternatives.push(AlternativeCapabilitySet(one));
    }
    let descriptors = SetOf::from_vec(vec![CapabilityDescriptor::required(
        CapabilityDescriptorNumber(0),
    )
    .with_simultaneous_capabilities(SetOf::from_vec(alternatives))]);
    TerminalCapabilitySet::required(SequenceNumber(sequence), h245_protocol_identifier())
        .with_multiplex_capability(MultiplexCapability::h2250Capability(h2250(video.is_some())))
        .with_capability_table(table)
        .with_capability_descriptors(descriptors)
}

/// H.225.0 media: centralized multipoint; with video, H.264 in both
/// packetization modes.
fn h2250(video: bool) -> H2250Capability {
    let centralized = || {
        MultipointCapability::new(
            false,
            false,
            vec![MediaDistributionCapability::required(
                true, false, true, false, false, false,
            )],
        )
    };
    H2250Capability::required(
        60,
        centralized(),
        centralized(),
        centralized(),
        H2250CapabilityMcCapability::new(true, false),
        false,
        MediaPacketizationCapability::required(false).with_rtp_payload_type(
            video.then(|| vec![h264::packetization(0, None), h264::packetization(1, None)]),
        ),
    )
    .with_logical_channel_switching_capability(false)
    .with_t120_dynamic_port_capability(false)
}

/// The audio codecs a room's capability set says it can receive, in its
/// table's order.
pub fn receivable(tcs: &TerminalCapabilitySet) -> Vec<AudioCodec> {
    let mut entries: Vec<&CapabilityTableEntry> =
        tcs.capability_table.iter().flat_map(SetOf::iter).collect();
    entries.sort_by_key(|e| e.capability_table_entry_number.0);
    let mut out = Vec::new();
    for e in entries {
        let codec = match &e.capability {
            Some(Capability::receiveAudioCapability(a))
            | Some(Capability::receiveAndTransmitAudioCapability(a)) => codec_of(a),
            _ => None,
        };
        if let Some(c) = codec.filter(|c| !out.contains(c)) {
            out.push(c);
        }
    }
    out
}

/// Video as a room's capability set says it can receive it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomVideo {
    pub codec: VideoCap,
    /// It takes H.264 packetization mode 1 (else single NAL units only).
    pub mode_1: bool,
}

/// The video a room's capability set says it can receive: its largest
/// H.264, else its largest H.263, or None.
pub fn receivable_video(tcs: &TerminalCapabilitySet) -> Option<RoomVideo> {
    let codec = tcs
        .capability_table
        .iter()
        .flat_map(SetOf::iter)
        .filter_map(|e| match &e.capability {
            Some(Capability::receiveVideoCapability(v))
            | Some(Capability::receiveAndTransmitVideoCapability(v)) => video_of(v),
            _ => None,
        })
        .max_by_key(|v| {
            let limits = v.limits();
            let h264 = matches!(v, VideoCap::H264(_));
            (h264, limits.max_fs, limits.max_mbps)
        })?;
    let mode_1 = match &tcs.multiplex_capability {
        Some(MultiplexCapability::h2250Capability(h)) => h
            .media_packetization_capability
            .rtp_payload_type
            .as_ref()
            .is_some_and(h264::takes_mode_1),
        _ => false,
    };
    Some(RoomVideo { codec, mode_1 })
}

/// The video codec a capability or data type names, if we speak it.
pub fn video_of(video: &VideoCapability) -> Option<VideoCap> {
    match video {
        VideoCapability::genericVideoCapability(g) => h264::read(g).map(VideoCap::H264),
        VideoCapability::h263VideoCapability(h) => h263::read(h).map(VideoCap::H263),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_set_round_trips_and_reads_back_as_receivable() {
        let codecs = [
            AudioCodec::G722,
            AudioCodec::Pcmu,
            AudioCodec::Pcma,
            AudioCodec::Opus,
        ];
        let ours = OurVideo {
            kbps: 1800,
            h263: true,
        };
        let tcs = terminal_capability_set(1, &codecs, Some(ours));
        let bytes = h323_asn1::encode(&tcs).unwrap();
        let back: TerminalCapabilitySet = h323_asn1::decode(&bytes).unwrap();
        assert_eq!(back, tcs);
        assert_eq!(
            receivable(&back),
            [AudioCodec::G722, AudioCodec::Pcmu, AudioCodec::Pcma]
        );
        let video = receivable_video(&back).unwrap();
        assert!(video.mode_1);
        assert_eq!(video.codec.limits().max_kbps, Some(1800));
        assert_eq!(video.codec.codec(), VideoCodec::H264, "H.264 before H.263");
        assert_eq!(
            receivable_video(&terminal_capability_set(1, &codecs, None)),
            None
        );
    }
}
