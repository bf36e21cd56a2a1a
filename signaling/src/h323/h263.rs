//! H.263 in H.245 (h263VideoCapability), for older rooms without H.264:
//! the picture formats with their minimum picture intervals (MPI: one
//! picture per MPI × 1001/30000 s at most) and the bit rate, in 100 bit/s
//! units. No optional modes (annexes) are offered or asked for.

use h323_asn1::h245::H263VideoCapability;
use media_api::{macroblocks, VideoLimits};

/// Our capability: QCIF, CIF and 4CIF at full rate (what we decode and
/// send), at most `kbps`.
pub fn capability(kbps: u32) -> H263VideoCapability {
    let mut h263 = H263VideoCapability::required(
        kbps.saturating_mul(10).clamp(1, 192_400),
        false,
        false,
        false,
        false,
        false,
    );
    h263.qcif_mpi = Some(1);
    h263.cif_mpi = Some(1);
    h263.cif4_mpi = Some(1);
    h263
}

/// What a room's H.263 capability or channel says it decodes: its largest
/// format, at the rate its MPI allows; `max_kbps` from maxBitRate.
pub fn read(h263: &H263VideoCapability) -> Option<VideoLimits> {
    let formats = [
        (h263.sqcif_mpi, (128, 96)),
        (h263.qcif_mpi, (176, 144)),
        (h263.cif_mpi, (352, 288)),
        (h263.cif4_mpi, (704, 576)),
        (h263.cif16_mpi, (1408, 1152)),
    ];
    let named: Vec<(u32, u32)> = formats
        .iter()
        .filter_map(|&(mpi, (w, h))| Some((macroblocks(w, h), u32::from(mpi?).clamp(1, 32))))
        .collect();
    Some(VideoLimits {
        max_fs: named.iter().map(|&(mbs, _)| mbs).max()?,
        max_mbps: named.iter().map(|&(mbs, mpi)| mbs * 30 / mpi).max()?,
        max_fps: None,
        max_kbps: Some(h263.max_bit_rate / 10),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_capability_reads_back_as_4cif_at_full_rate() {
        let limits = read(&capability(768)).unwrap();
        assert_eq!((limits.max_fs, limits.max_mbps), (1584, 1584 * 30));
        assert_eq!(limits.max_kbps, Some(768));
        let mut room = H263VideoCapability::required(3840, false, false, false, false, false);
        assert_eq!(read(&room), None, "no picture format");
        room.qcif_mpi = Some(1);
        room.cif_mpi = Some(2);
        let limits = read(&room).unwrap();
        assert_eq!((limits.max_fs, limits.max_mbps), (396, 396 * 15));
        assert_eq!(limits.max_kbps, Some(384));
    }
}
