//! The RTP port range and the allocation of even/odd RTP/RTCP port pairs.

use std::fmt;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU16, Ordering};

/// An inclusive UDP port range for media (default 40000–49999).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub min: u16,
    pub max: u16,
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.min, self.max)
    }
}

/// Hands out RTP (even) + RTCP (odd) socket pairs round-robin across the range.
#[derive(Debug)]
pub struct PortAllocator {
    range: PortRange,
    cursor: AtomicU16,
}

impl PortAllocator {
    pub fn new(range: PortRange) -> PortAllocator {
        let first = range.min + range.min % 2;
        PortAllocator {
            range,
            cursor: AtomicU16::new(first),
        }
    }

    /// Binds the next free pair on `ip`.
    pub fn bind_pair(&self, ip: IpAddr) -> Option<(UdpSocket, UdpSocket)> {
        let first = self.range.min + self.range.min % 2;
        let pairs = (self.range.max.saturating_sub(first) / 2 + 1) as usize;
        for _ in 0..pairs {
            let port = self
                .cursor
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |p| {
                    let next = p + 2;
                    Some(if next >= self.range.max || next < first {
                        first
                    } else {
                        next
                    })
                })
                .expect("closure never fails");
            let Ok(rtp) = UdpSocket::bind(SocketAddr::new(ip, port)) else {
                continue;
            };
            let Ok(rtcp) = UdpSocket::bind(SocketAddr::new(ip, port + 1)) else {
                continue;
            };
            return Some((rtp, rtcp));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_even_odd_and_skip_busy_ports() {
        let alloc = PortAllocator::new(PortRange {
            min: 47001,
            max: 47020,
        });
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let busy = UdpSocket::bind("127.0.0.1:47004").unwrap();
        let (a, b) = alloc.bind_pair(ip).unwrap();
        assert_eq!(
            (
                a.local_addr().unwrap().port(),
                b.local_addr().unwrap().port()
            ),
            (47002, 47003)
        );
        let (c, _d) = alloc.bind_pair(ip).unwrap();
        assert_eq!(c.local_addr().unwrap().port(), 47006, "47004 is taken");
        drop(busy);
    }
}
