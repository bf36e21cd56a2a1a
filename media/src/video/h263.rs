//! H.263 in RTP as RFC 2190, which H.323 rooms and older SIP rooms send:
//! a 4-byte header (mode A) before a packet that starts at a picture or
//! GOB start code, 8 bytes (mode B) before one that starts at a
//! macroblock, 12 (mode C, PB-frames) — and packets that may split a byte
//! (SBIT/EBIT). Reading joins the payloads into one bitstream for FFmpeg's
//! decoder; writing cuts an encoded picture at its GOB start codes, and a
//! GOB bigger than a packet at the macroblock boundaries FFmpeg's encoder
//! reports (`mb_info`), as FFmpeg's own RTP muxer does.

use bytes::{BufMut, Bytes, BytesMut};

/// The RFC 2190 header's length, by its F and P bits.
fn header_len(first: u8) -> usize {
    match first >> 6 {
        0b00 | 0b01 => 4, // mode A (P is only meaningful with F)
        0b10 => 8,        // mode B
        _ => 12,          // mode C
    }
}

/// Whether `payload` (an RFC 2190 packet) starts an intra picture: the
/// header's I bit says intra ("0") and the data starts with a picture
/// start code.
pub fn starts_keyframe(payload: &[u8]) -> bool {
    let Some(&first) = payload.first() else {
        return false;
    };
    let len = header_len(first);
    let inter = match len {
        4 => payload.get(1).map(|b| b & 0x10 != 0),
        _ => payload.get(4).map(|b| b & 0x80 != 0),
    };
    let data = payload.get(len..).unwrap_or_default();
    inter == Some(false) && starts_picture(data)
}

/// A picture start code (22 bits: 0000 0000 0000 0000 1000 00) at the start.
fn starts_picture(data: &[u8]) -> bool {
    matches!(data, [0, 0, third, ..] if third & 0xfc == 0x80)
}

/// Appends an RFC 2190 packet's data to `frame`, joining a byte split
/// with the previous packet; false if the packet is too short.
pub fn depacketise(payload: &[u8], frame: &mut Vec<u8>) -> bool {
    let Some(&first) = payload.first() else {
        return false;
    };
    let len = header_len(first);
    let Some(data) = payload.get(len..).filter(|d| !d.is_empty()) else {
        return false;
    };
    let sbit = (first >> 3) & 7;
    let ebit = first & 7;
    let mut data = data;
    if sbit != 0 {
        let head = data[0] & (0xff >> sbit);
        match frame.last_mut() {
            // The previous packet's last byte holds this byte's first bits.
            Some(last) => *last |= head,
            None => frame.push(head),
        }
        data = &data[1..];
    }
    frame.extend_from_slice(data);
    if ebit != 0 {
        if let Some(last) = frame.last_mut() {
            *last &= 0xff << ebit;
        }
    }
    true
}

/// One macroblock's entry of FFmpeg's `AV_PKT_DATA_H263_MB_INFO`: where
/// it starts and what a mode B header needs to decode from it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MbInfo {
    pub bit_offset: u32,
    pub quant: u8,
    pub gobn: u8,
    pub mba: u16,
    pub hmv1: u8,
    pub vmv1: u8,
}

impl MbInfo {
    /// Reads the side data's 12-byte little-endian entries.
    pub fn parse_all(side_data: &[u8]) -> Vec<MbInfo> {
        side_data
            .chunks_exact(12)
            .map(|e| MbInfo {
                bit_offset: u32::from_le_bytes([e[0], e[1], e[2], e[3]]),
                quant: e[4],
                gobn: e[5],
                mba: u16::from_le_bytes([e[6], e[7]]),
                hmv1: e[8],
                vmv1: e[9],
            })
            .collect()
    }
}

/// What the picture header says, repeated in every packet's header.
#[derive(Debug, Clone, Copy, Default)]
struct PictureType {
    /// Source format (PTYPE bits 6–8).
    src: u8,
    /// Inter-coded (PTYPE bit 9), unrestricted vectors, syntax-based
    /// arithmetic coding, advanced prediction (bits 10–12).
    i: bool,
    u: bool,
    s: bool,
    a: bool,
}

impl PictureType {
    /// Reads PTYPE after the picture start code and temporal reference.
    fn of(frame: &[u8]) -> Option<PictureType> {
        let bit = |n: usize| frame.get(n / 8).map(|b| b >> (7 - n % 8) & 1 == 1);
        let src = (bit(35)? as u8) << 2 | (bit(36)? as u8) << 1 | bit(37)? as u8;
        Some(PictureType {
            src,
            i: bit(38)?,
            u: bit(39)?,
            s: bit(40)?,
            a: bit(41)?,
        })
    }
}

/// Byte offsets of the picture and GOB start codes in `frame` (byte
/// aligned: FFmpeg aligns GOB headers in RTP mode).
fn start_codes(frame: &[u8]) -> Vec<usize> {
    (0..frame.len().saturating_sub(2))
        .filter(|&i| frame[i] == 0 && frame[i + 1] == 0 && frame[i + 2] & 0x80 != 0)
        .collect()
}

/// Cuts an encoded H.263 picture into RFC 2190 payloads of at most
/// `mtu` bytes: mode A packets of whole GOBs where they fit, mode B
/// packets split at macroblocks (`mb_info`) where one GOB does not.
pub fn packetise(frame: &[u8], mb_info: &[MbInfo], mtu: usize) -> Vec<Bytes> {
    let Some(ptype) = PictureType::of(frame).filter(|_| starts_picture(frame)) else {
        return Vec::new();
    };
    let total = frame.len() as u32 * 8;
    let codes = start_codes(frame);
    let mut payloads = Vec::new();
    let mut start = 0u32; // in bits
    while start < total {
        let first_byte = (start / 8) as usize;
        let at_start_code = start.is_multiple_of(8) && codes.binary_search(&first_byte).is_ok();
        let room = if at_start_code { mtu - 4 } else { mtu - 8 };
        let end = if total - start <= room as u32 * 8 {
            total
        } else {
            // The last start code that fits, else the last macroblock.
            let limit = first_byte + room;
            let code = codes
                .iter()
                .rev()
                .find(|&&c| c > first_byte && c <= limit)
                .map(|&c| c as u32 * 8);
            let mb = mb_info
                .iter()
                .rev()
                .map(|m| m.bit_offset)
                .find(|&b| b > start && (b as usize).div_ceil(8) <= limit);
            code.or(mb).unwrap_or(limit as u32 * 8).max(start + 8)
        };
        let header = if at_start_code {
            mode_a(ptype, end)
        } else {
            let mb = mb_info
                .iter()
                .rev()
                .find(|m| m.bit_offset <= start)
                .copied()
                .unwrap_or_default();
            mode_b(ptype, start, end, mb)
        };
        let bytes = &frame[first_byte..(end as usize).div_ceil(8)];
        let mut payload = BytesMut::with_capacity(header.len() + bytes.len());
        payload.put_slice(&header);
        payload.put_slice(bytes);
        payloads.push(payload.freeze());
        start = end;
    }
    payloads
}

/// SBIT and EBIT of a packet from bit `start` to bit `end`.
fn split_bits(start: u32, end: u32) -> (u8, u8) {
    ((start % 8) as u8, ((8 - end % 8) % 8) as u8)
}

/// The mode A header: F=0, P=0, SBIT=0, EBIT, SRC, I, U, S, A; R, DBQ,
/// TRB and TR zero (no PB-frames).
fn mode_a(p: PictureType, end: u32) -> Vec<u8> {
    let (_, ebit) = split_bits(0, end);
    let flags = u8::from(p.i) << 4 | u8::from(p.u) << 3 | u8::from(p.s) << 2 | u8::from(p.a) << 1;
    vec![ebit, p.src << 5 | flags, 0, 0]
}

/// The mode B header: F=1, P=0, SBIT, EBIT, SRC, QUANT, GOBN, MBA of the
/// packet's first macroblock, I, U, S, A and its first motion vector
/// predictors.
fn mode_b(p: PictureType, start: u32, end: u32, mb: MbInfo) -> Vec<u8> {
    let (sbit, ebit) = split_bits(start, end);
    let mut bits: u64 = 0b10;
    let mut put = |value: u64, width: u32| bits = bits << width | (value & ((1 << width) - 1));
    put(u64::from(sbit), 3);
    put(u64::from(ebit), 3);
    put(u64::from(p.src), 3);
    put(u64::from(mb.quant), 5);
    put(u64::from(mb.gobn), 5);
    put(u64::from(mb.mba), 9);
    put(0, 2);
    for flag in [p.i, p.u, p.s, p.a] {
        put(u64::from(flag), 1);
    }
    put(u64::from(mb.hmv1), 7);
    put(u64::from(mb.vmv1), 7);
    put(0, 14);
    bits.to_be_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A picture header of a CIF intra picture (PSC, TR 0, PTYPE with
    /// source format 011), then "GOBs" made of start codes and filler.
    fn picture(inter: bool, gob_len: usize, gobs: u8) -> Vec<u8> {
        // PSC 22 bits, TR 8 bits, PTYPE: 1 0 0 0 0 011 I 0 0 0 0.
        let psc: u64 = 0x20; // 22 bits: sixteen zeros, 1, five zeros
        let mut bits = psc << 8; // TR
                                 // PTYPE bits 1–8: 1 0 0 0 0 and source format 011 (CIF).
        let ptype_head: u64 = 0x83;
        bits = bits << 13 | ptype_head << 5 | u64::from(inter) << 4;
        bits <<= 64 - 43;
        let mut frame = bits.to_be_bytes()[..6].to_vec();
        frame.resize(gob_len, 0x55);
        for gob in 1..gobs {
            frame.extend_from_slice(&[0, 0, 0x80 | gob << 2]);
            frame.resize(frame.len() + gob_len - 3, 0x55);
        }
        frame
    }

    #[test]
    fn whole_gobs_go_in_mode_a_and_join_again() {
        let frame = picture(false, 500, 6);
        let payloads = packetise(&frame, &[], 1200);
        assert_eq!(payloads.len(), 3, "two GOBs a packet");
        assert!(starts_keyframe(&payloads[0]));
        assert!(!starts_keyframe(&payloads[1]));
        let mut joined = Vec::new();
        for p in &payloads {
            assert!(p.len() <= 1200);
            assert_eq!(p[0] >> 6, 0, "mode A");
            assert_eq!(p[1] >> 5, 0b011, "CIF");
            assert!(depacketise(p, &mut joined));
        }
        assert_eq!(joined, frame);
        assert!(!starts_keyframe(
            &packetise(&picture(true, 500, 1), &[], 1200)[0]
        ));
    }

    #[test]
    fn a_gob_bigger_than_a_packet_is_split_at_macroblocks_in_mode_b() {
        let frame = picture(false, 3000, 1);
        // Macroblocks every 803 bits (not on byte boundaries).
        let mbs: Vec<MbInfo> = (0..29)
            .map(|n| MbInfo {
                bit_offset: 50 + n * 803,
                quant: 7,
                gobn: 0,
                mba: n as u16,
                hmv1: 0,
                vmv1: 0,
            })
            .collect();
        let payloads = packetise(&frame, &mbs, 1200);
        assert!(payloads.len() >= 3);
        let mut joined = Vec::new();
        for (n, p) in payloads.iter().enumerate() {
            assert!(p.len() <= 1200, "{}", p.len());
            assert_eq!(p[0] >> 6, if n == 0 { 0b00 } else { 0b10 });
            assert!(depacketise(p, &mut joined));
        }
        assert_eq!(joined, frame);
        // Mode B names the packet's first macroblock: QUANT 7, its MBA.
        let b = &payloads[1];
        assert_eq!(b[1] & 0x1f, 7);
        let mba = u16::from(b[2] & 0x07) << 6 | u16::from(b[3] >> 2);
        assert!(mba > 0);
    }

    #[test]
    fn short_packets_are_refused() {
        let mut frame = Vec::new();
        assert!(!depacketise(&[0, 0, 0, 0], &mut frame));
        assert!(!depacketise(&[0x80, 0, 0], &mut frame));
        assert!(!depacketise(&[], &mut frame));
        assert!(!starts_keyframe(&[0x00, 0x60]));
    }
}
