//! Whether an RTP packet starts a video keyframe (VP8: RFC 7741; H.264:
//! RFC 6184, an IDR slice or the SPS sent ahead of one). A new subscriber
//! gets video from a keyframe on, so its decoder never starts mid-stream.

/// True when `payload` (the RTP payload of codec `mime_type`) is the first
/// packet of a keyframe.
pub fn starts_keyframe(mime_type: &str, payload: &[u8]) -> bool {
    if mime_type.eq_ignore_ascii_case("video/vp8") {
        vp8_starts_keyframe(payload)
    } else if mime_type.eq_ignore_ascii_case("video/h264") {
        h264_starts_keyframe(payload)
    } else {
        false
    }
}

fn vp8_starts_keyframe(payload: &[u8]) -> bool {
    let Some(&first) = payload.first() else {
        return false;
    };
    let start_of_partition = first & 0x10 != 0;
    let partition_index = first & 0x07;
    if !start_of_partition || partition_index != 0 {
        return false;
    }
    let mut at = 1;
    if first & 0x80 != 0 {
        // Extension byte: I (picture id), L (TL0PICIDX), T/K (TID/KEYIDX).
        let Some(&ext) = payload.get(at) else {
            return false;
        };
        at += 1;
        if ext & 0x80 != 0 {
            let long_picture_id = payload.get(at).is_some_and(|b| b & 0x80 != 0);
            at += if long_picture_id { 2 } else { 1 };
        }
        if ext & 0x40 != 0 {
            at += 1;
        }
        if ext & 0x30 != 0 {
            at += 1;
        }
    }
    // The VP8 frame header's P bit: 0 for a keyframe.
    payload.get(at).is_some_and(|header| header & 0x01 == 0)
}

const NAL_IDR: u8 = 5;
const NAL_SPS: u8 = 7;
const NAL_STAP_A: u8 = 24;
const NAL_FU_A: u8 = 28;

fn h264_starts_keyframe(payload: &[u8]) -> bool {
    let Some(&first) = payload.first() else {
        return false;
    };
    match first & 0x1f {
        NAL_IDR | NAL_SPS => true,
        NAL_STAP_A => {
            let mut at = 1;
            while let (Some(&hi), Some(&lo)) = (payload.get(at), payload.get(at + 1)) {
                let size = usize::from(u16::from_be_bytes([hi, lo]));
                if payload
                    .get(at + 2)
                    .is_some_and(|nal| matches!(nal & 0x1f, NAL_IDR | NAL_SPS))
                {
                    return true;
                }
                at += 2 + size;
            }
            false
        }
        NAL_FU_A => payload
            .get(1)
            .is_some_and(|fu| fu & 0x80 != 0 && fu & 0x1f == NAL_IDR),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::starts_keyframe;

    #[test]
    fn vp8_keyframes_are_told_from_interframes() {
        // S=1, PID=0, no extension; frame header P=0 / P=1.
        assert!(starts_keyframe("video/VP8", &[0x10, 0x50, 0x2a]));
        assert!(!starts_keyframe("video/VP8", &[0x10, 0x51, 0x2a]));
        // Continuation of a frame (S=0).
        assert!(!starts_keyframe("video/VP8", &[0x00, 0x50]));
        // With X: I (15-bit picture id), L, T/K — as Chrome sends.
        assert!(starts_keyframe(
            "video/VP8",
            &[0x90, 0xe0, 0x80, 0x01, 0x02, 0x20, 0x50]
        ));
        assert!(!starts_keyframe(
            "video/VP8",
            &[0x90, 0xe0, 0x80, 0x01, 0x02, 0x20, 0x51]
        ));
        // With X and a 7-bit picture id only.
        assert!(starts_keyframe("video/VP8", &[0x90, 0x80, 0x05, 0x50]));
        assert!(!starts_keyframe("video/VP8", &[0x90, 0x80]));
        assert!(!starts_keyframe("video/VP8", &[]));
    }

    #[test]
    fn h264_keyframes_are_told_from_interframes() {
        assert!(starts_keyframe("video/H264", &[0x65, 0x88]));
        assert!(starts_keyframe("video/H264", &[0x67, 0x42]));
        assert!(!starts_keyframe("video/H264", &[0x41, 0x9a]));
        // STAP-A carrying SPS and PPS.
        assert!(starts_keyframe(
            "video/H264",
            &[0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce]
        ));
        // STAP-A of non-key NALs, and a truncated one.
        assert!(!starts_keyframe(
            "video/H264",
            &[0x78, 0x00, 0x02, 0x06, 0x05]
        ));
        assert!(!starts_keyframe("video/H264", &[0x78, 0x00]));
        // FU-A: start of an IDR slice vs its middle, vs a non-IDR slice.
        assert!(starts_keyframe("video/H264", &[0x7c, 0x85, 0x88]));
        assert!(!starts_keyframe("video/H264", &[0x7c, 0x05, 0x88]));
        assert!(!starts_keyframe("video/H264", &[0x7c, 0x81, 0x9a]));
        assert!(!starts_keyframe("audio/opus", &[0x65]));
    }
}
