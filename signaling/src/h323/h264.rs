//! H.264 in H.245 (ITU-T H.241): the generic video capability (OID
//! 0.0.8.241.0.0.1) with its profile, level and the custom maxima rooms
//! raise the level with, and the RTP packetization OIDs of H.241 Annex A
//! (single NAL unit mode) and RFC 3984 non-interleaved (mode 1).

use h323_asn1::h245::{
    CapabilityIdentifier, GenericCapability, GenericParameter, ParameterIdentifier, ParameterValue,
    RTPPayloadType, RTPPayloadTypePayloadDescriptor,
};
use h323_asn1::rasn::types::{ObjectIdentifier, SequenceOf};
use media_api::VideoLimits;

/// { itu-t recommendation h 241 specificVideoCodecCapabilities h264 generic }.
const GENERIC: [u32; 7] = [0, 0, 8, 241, 0, 0, 1];
/// Packetization OIDs: { ... h264 iPpacketization mode }.
const PACKETIZATION: [u32; 7] = [0, 0, 8, 241, 0, 0, 0];

/// H.241 generic parameters (collapsing).
const PROFILE: u8 = 41;
const LEVEL: u8 = 42;
const CUSTOM_MAX_MBPS: u8 = 3;
const CUSTOM_MAX_FS: u8 = 4;
const CUSTOM_MAX_BR: u8 = 6;

/// Profile bits of the H.241 profile parameter.
const BASELINE: u8 = 64;
const MAIN: u8 = 32;
const EXTENDED: u8 = 16;
const HIGH: u8 = 8;

/// H.241 level codes and the `level_idc` each stands for.
const LEVELS: [(u16, u8); 16] = [
    (15, 10),
    (19, 9), // level 1b
    (22, 11),
    (29, 12),
    (36, 13),
    (43, 20),
    (50, 21),
    (57, 22),
    (64, 30),
    (71, 31),
    (78, 32),
    (85, 40),
    (92, 41),
    (99, 42),
    (106, 50),
    (113, 51),
];

/// What a room's H.264 capability or channel says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct H264 {
    /// The `profile_idc` of the best profile named (0x42 baseline, 0x4d
    /// main, 0x58 extended, 0x64 high).
    pub profile_idc: u8,
    pub level_idc: u8,
    /// The level raised by the custom maxima; `max_kbps` from the custom
    /// bit rate or the capability's maxBitRate.
    pub limits: VideoLimits,
}

fn generic_oid() -> ObjectIdentifier {
    ObjectIdentifier::new_unchecked(GENERIC.to_vec().into())
}

fn parameter(id: u8, value: ParameterValue) -> GenericParameter {
    GenericParameter::required(ParameterIdentifier::standard(id), value)
}

/// Constrained baseline at `level_idc`, raised by custom maxima to
/// `limits`, at most `kbps`: what we decode (level 3.1 raised to 1080p),
/// or what we send a room (its own level and maxima).
pub fn capability(level_idc: u8, limits: VideoLimits, kbps: u32) -> GenericCapability {
    let &(code, level_idc) = LEVELS
        .iter()
        .find(|(_, idc)| *idc == level_idc)
        .unwrap_or(&(71, 31));
    let level = VideoLimits::of_h264_level(level_idc, code == 19);
    let mut collapsing = vec![
        parameter(PROFILE, ParameterValue::booleanArray(BASELINE)),
        parameter(LEVEL, ParameterValue::unsignedMin(code)),
    ];
    // Custom maxima are in units of 500 macroblocks/s and 256 macroblocks.
    let units = |v: u32, unit: u32| ParameterValue::unsignedMin(v.div_ceil(unit).min(65535) as u16);
    if limits.max_mbps > level.max_mbps {
        collapsing.push(parameter(CUSTOM_MAX_MBPS, units(limits.max_mbps, 500)));
    }
    if limits.max_fs > level.max_fs {
        collapsing.push(parameter(CUSTOM_MAX_FS, units(limits.max_fs, 256)));
    }
    GenericCapability::required(CapabilityIdentifier::standard(generic_oid()))
        .with_max_bit_rate(kbps.saturating_mul(10))
        .with_collapsing(collapsing)
}

/// Reads a generic capability: None unless it is H.264 (H.241).
pub fn read(cap: &GenericCapability) -> Option<H264> {
    let CapabilityIdentifier::standard(oid) = &cap.capability_identifier else {
        return None;
    };
    if **oid != GENERIC[..] {
        return None;
    }
    let value = |id: u8| {
        cap.collapsing
            .iter()
            .flatten()
            .find(|p| p.parameter_identifier == ParameterIdentifier::standard(id))
            .map(|p| match p.parameter_value {
                ParameterValue::booleanArray(v) => u32::from(v),
                ParameterValue::unsignedMin(v) | ParameterValue::unsignedMax(v) => u32::from(v),
                ParameterValue::unsigned32Min(v) | ParameterValue::unsigned32Max(v) => v,
                _ => 0,
            })
    };
    let profiles = value(PROFILE).unwrap_or(u32::from(BASELINE));
    let profile_idc = [(HIGH, 0x64), (MAIN, 0x4d), (EXTENDED, 0x58)]
        .iter()
        .find(|(bit, _)| profiles & u32::from(*bit) != 0)
        .map_or(0x42, |&(_, idc)| idc);
    let code = value(LEVEL).unwrap_or(15);
    // The highest level whose code the room's reaches.
    let &(code_of_level, level_idc) = LEVELS
        .iter()
        .rev()
        .find(|(c, _)| u32::from(*c) <= code)
        .unwrap_or(&LEVELS[0]);
    let base = VideoLimits::of_h264_level(level_idc, code_of_level == 19);
    let custom_kbps = value(CUSTOM_MAX_BR).map(|units| units * 25);
    let cap_kbps = cap.max_bit_rate.map(|hundreds| hundreds / 10);
    Some(H264 {
        profile_idc,
        level_idc,
        limits: VideoLimits {
            max_fs: value(CUSTOM_MAX_FS).map_or(base.max_fs, |u| (u * 256).max(base.max_fs)),
            max_mbps: value(CUSTOM_MAX_MBPS)
                .map_or(base.max_mbps, |u| (u * 500).max(base.max_mbps)),
            max_fps: None,
            max_kbps: cap_kbps.or(custom_kbps).or(base.max_kbps),
        },
    })
}

/// The RTP payload descriptor of packetization `mode` (0 or 1).
pub fn packetization(mode: u8, payload_type: Option<u8>) -> RTPPayloadType {
    let mut oid = PACKETIZATION.to_vec();
    oid.push(u32::from(mode));
    RTPPayloadType::required(RTPPayloadTypePayloadDescriptor::oid(
        ObjectIdentifier::new_unchecked(oid.into()),
    ))
    .with_payload_type(payload_type)
}

/// The packetization mode a payload descriptor names: mode 0 for H.241
/// Annex A (also as some Polycom rooms write it, one arc short), mode 1
/// for RFC 3984 non-interleaved; None for anything else.
pub fn mode_of(payload: &RTPPayloadType) -> Option<u8> {
    let RTPPayloadTypePayloadDescriptor::oid(oid) = &payload.payload_descriptor else {
        return None;
    };
    match &oid[..] {
        o if o == PACKETIZATION => Some(0),
        [prefix @ .., mode @ (0 | 1)] if *prefix == PACKETIZATION => Some(*mode as u8),
        _ => None,
    }
}

/// Whether a list of payload descriptors (a capability set's or a
/// channel's) includes packetization mode 1.
pub fn takes_mode_1(payloads: &SequenceOf<RTPPayloadType>) -> bool {
    payloads.iter().any(|p| mode_of(p) == Some(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use media_api::LADDER;

    #[test]
    fn our_capability_reads_back_as_what_we_decode() {
        let cap = capability(31, VideoLimits::HD1080, 2000);
        let bytes = h323_asn1::encode(&cap).unwrap();
        let back: GenericCapability = h323_asn1::decode(&bytes).unwrap();
        let read = read(&back).unwrap();
        assert_eq!((read.profile_idc, read.level_idc), (0x42, 31));
        assert!(read.limits.max_fs >= 8160 && read.limits.max_mbps >= 244_800);
        assert_eq!(read.limits.max_kbps, Some(2000));
        assert_eq!(read.limits.send_mode_on(&LADDER, 2000).height, 720);
        assert_eq!(read.limits.send_mode_on(&LADDER, 4000).height, 1080);
    }

    #[test]
    fn a_room_with_level_2_2_and_a_high_profile_bit() {
        let cap = GenericCapability::required(CapabilityIdentifier::standard(generic_oid()))
            .with_collapsing(vec![
                parameter(PROFILE, ParameterValue::booleanArray(BASELINE | HIGH)),
                parameter(LEVEL, ParameterValue::unsignedMin(57)),
            ]);
        let read = read(&cap).unwrap();
        assert_eq!((read.profile_idc, read.level_idc), (0x64, 22));
        assert_eq!(read.limits.max_fs, 1620);
        assert_eq!(read.limits.max_kbps, Some(4000));
    }

    #[test]
    fn packetization_modes_including_the_truncated_oid() {
        assert_eq!(mode_of(&packetization(0, None)), Some(0));
        assert_eq!(mode_of(&packetization(1, Some(109))), Some(1));
        let truncated = RTPPayloadType::required(RTPPayloadTypePayloadDescriptor::oid(
            ObjectIdentifier::new_unchecked(PACKETIZATION.to_vec().into()),
        ));
        assert_eq!(mode_of(&truncated), Some(0));
        assert_eq!(mode_of(&packetization(2, None)), None);
        assert!(takes_mode_1(&vec![
            packetization(0, None),
            packetization(1, None)
        ]));
    }
}
