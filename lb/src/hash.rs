//! A fixed, seedable 64-bit hash (FNV-1a folded through the splitmix64
//! finalizer): the same on every node and every release, as consistent
//! hashing across a cluster needs (std's hasher promises neither).

/// Hashes `bytes` with `seed`.
pub fn hash64(bytes: &[u8], seed: u64) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325 ^ seed;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    mix(h)
}

/// The splitmix64 finalizer: spreads every input bit over the output.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_and_seeded() {
        assert_eq!(hash64(b"10.0.0.1:5060", 0), hash64(b"10.0.0.1:5060", 0));
        assert_ne!(hash64(b"10.0.0.1:5060", 0), hash64(b"10.0.0.1:5060", 1));
        assert_ne!(hash64(b"a", 0), hash64(b"b", 0));
        // Pinned: a change here would remap every flow of a running cluster.
        assert_eq!(hash64(b"", 0), mix(0xcbf2_9ce4_8422_2325));
    }
}
