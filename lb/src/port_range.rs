//! A media port range split across backends: each backend owns one
//! contiguous block of the listener's ports (in configuration order, the
//! remainder going to the first ones), so RTP to a port always reaches the
//! node that handed that port out. A datagram to port `p` of a block goes
//! to the owner's address at its port + (p − block start); a media node
//! configured with exactly its block (media.port_min..port_max) and
//! backend port = block start sees the same port numbers as the clients.

/// The blocks of a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    first: u16,
    /// (first port, ports) per backend.
    blocks: Vec<(u16, u16)>,
}

impl Partition {
    /// Splits `first..=last` into `backends` blocks (`backends` ≥ 1 and
    /// ≤ the number of ports: validated with the configuration).
    pub fn new(first: u16, last: u16, backends: usize) -> Partition {
        let ports = usize::from(last - first) + 1;
        let n = backends.clamp(1, ports);
        let (size, extra) = (ports / n, ports % n);
        let mut start = first;
        let blocks = (0..n)
            .map(|i| {
                let len = (size + usize::from(i < extra)) as u16;
                let block = (start, len);
                start = start.wrapping_add(len);
                block
            })
            .collect();
        Partition { first, blocks }
    }

    /// The owning backend's index and the offset of `port` in its block.
    pub fn owner(&self, port: u16) -> Option<(usize, u16)> {
        let i = self
            .blocks
            .partition_point(|&(start, _)| start <= port)
            .checked_sub(1)?;
        let (start, len) = self.blocks[i];
        (port >= self.first && port - start < len).then_some((i, port - start))
    }

    pub fn blocks(&self) -> &[(u16, u16)] {
        &self.blocks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_port_has_exactly_one_owner_in_contiguous_blocks() {
        let p = Partition::new(40000, 40009, 3);
        assert_eq!(p.blocks(), [(40000, 4), (40004, 3), (40007, 3)]);
        let owners: Vec<_> = (40000..=40009).map(|port| p.owner(port).unwrap()).collect();
        assert_eq!(owners[0], (0, 0));
        assert_eq!(owners[4], (1, 0));
        assert_eq!(owners[9], (2, 2));
        assert_eq!(p.owner(39999), None);
        assert_eq!(p.owner(40010), None);
    }

    #[test]
    fn the_full_port_space_splits() {
        let p = Partition::new(0, u16::MAX, 7);
        let total: u32 = p.blocks().iter().map(|&(_, n)| u32::from(n)).sum();
        assert_eq!(total, 65536);
        assert_eq!(p.owner(u16::MAX).map(|(i, _)| i), Some(6));
    }
}
