//! Batched UDP I/O through quinn-udp: one `recvmmsg` brings up to
//! [`BATCH`] buffers (each possibly a GRO train of equal-size datagrams),
//! and datagrams of equal size bound for one destination leave in one
//! `sendmsg` with UDP GSO. Buffers are allocated once per socket.

use std::cell::RefCell;
use std::io::{self, IoSliceMut};
use std::net::{IpAddr, SocketAddr};

use quinn_udp::{RecvMeta, Transmit, UdpSocketState};
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Buffers per receive call.
pub const BATCH: usize = 16;

/// Receive buffers and what the kernel said about each.
pub struct RecvBatch {
    buf: Vec<u8>,
    chunk: usize,
    meta: [RecvMeta; BATCH],
}

/// One worker thread's buffers, shared by every socket it serves: a task
/// borrows them only between two awaits, and a thread runs one task at a
/// time.
pub struct Buffers {
    pub recv: RecvBatch,
    pub run: GsoRun,
}

thread_local! {
    static BUFFERS: RefCell<Option<Buffers>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's buffers (made on first use).
pub fn with_buffers<R>(state: &UdpSocketState, f: impl FnOnce(&mut Buffers) -> R) -> R {
    BUFFERS.with(|cell| {
        let mut slot = cell.borrow_mut();
        let buffers = slot.get_or_insert_with(|| Buffers {
            recv: RecvBatch::new(65_535),
            run: GsoRun::new(state.max_gso_segments()),
        });
        f(buffers)
    })
}

impl RecvBatch {
    /// `chunk` bytes per buffer: a GRO train needs 64 KiB, a socket
    /// without GRO its largest datagram.
    pub fn new(chunk: usize) -> RecvBatch {
        RecvBatch {
            buf: vec![0; chunk * BATCH],
            chunk,
            meta: [RecvMeta::default(); BATCH],
        }
    }

    /// Takes what is queued on `socket` without waiting; WouldBlock when
    /// nothing is.
    pub fn try_recv(&mut self, state: &UdpSocketState, socket: &UdpSocket) -> io::Result<usize> {
        let (buf, chunk, meta) = (&mut self.buf, self.chunk, &mut self.meta);
        socket.try_io(Interest::READABLE, || {
            let mut chunks = buf.chunks_mut(chunk);
            let mut slices: [IoSliceMut; BATCH] =
                std::array::from_fn(|_| IoSliceMut::new(chunks.next().unwrap_or_default()));
            state.recv(socket.into(), &mut slices, meta)
        })
    }

    /// Buffer `i`: its sender, the local address it was sent to, and its
    /// datagrams (a GRO train split at its stride).
    pub fn get(&self, i: usize) -> (SocketAddr, Option<IpAddr>, std::slice::Chunks<'_, u8>) {
        let m = &self.meta[i];
        let data = &self.buf[i * self.chunk..i * self.chunk + m.len];
        (m.addr, m.dst_ip, data.chunks(m.stride.max(1)))
    }
}

/// Datagrams of one size for one destination, gathered for one GSO send.
pub struct GsoRun {
    buf: Vec<u8>,
    segment: usize,
    max_segments: usize,
    destination: Option<SocketAddr>,
    src_ip: Option<IpAddr>,
}

impl GsoRun {
    pub fn new(max_segments: usize) -> GsoRun {
        GsoRun {
            buf: Vec::with_capacity(65_535),
            segment: 0,
            max_segments: max_segments.max(1),
            destination: None,
            src_ip: None,
        }
    }

    /// Whether `len` more bytes to `destination` can join the run (a
    /// shorter datagram can end it; none can follow that).
    pub fn fits(&self, destination: SocketAddr, len: usize) -> bool {
        match self.destination {
            None => true,
            Some(d) => {
                d == destination
                    && self.buf.len().is_multiple_of(self.segment)
                    && len <= self.segment
                    && self.buf.len() / self.segment < self.max_segments
                    && self.buf.len() + len <= 65_000
            }
        }
    }

    /// Appends one datagram made of `parts` (e.g. PROXY header, payload);
    /// the caller checked [`fits`](Self::fits) (flushing first otherwise).
    pub fn push(&mut self, destination: SocketAddr, src_ip: Option<IpAddr>, parts: &[&[u8]]) {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if self.destination.is_none() {
            self.destination = Some(destination);
            self.src_ip = src_ip;
            self.segment = len.max(1);
        }
        for p in parts {
            self.buf.extend_from_slice(p);
        }
    }

    /// Sends the run on `socket`; the run is empty afterwards whatever
    /// happened (UDP: a full socket buffer drops, as a router would).
    pub fn flush(&mut self, state: &UdpSocketState, socket: &UdpSocket) -> Flushed {
        let Some(destination) = self.destination.take() else {
            return Flushed::default();
        };
        let segments = self.buf.len().div_ceil(self.segment);
        let transmit = Transmit {
            destination,
            ecn: None,
            contents: &self.buf,
            segment_size: (segments > 1).then_some(self.segment),
            src_ip: self.src_ip,
        };
        // Straight to the non-blocking socket: tokio's write readiness is
        // unknown on a socket just made, and nothing here waits for it.
        let result = state.try_send(socket.into(), &transmit);
        let flushed = Flushed {
            segments: segments as u64,
            bytes: self.buf.len() as u64,
            sent: result.is_ok(),
        };
        self.buf.clear();
        flushed
    }
}

/// What one flush did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Flushed {
    pub segments: u64,
    pub bytes: u64,
    pub sent: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_takes_equal_sizes_to_one_destination_and_may_end_short() {
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:2".parse().unwrap();
        let mut run = GsoRun::new(3);
        assert!(run.fits(a, 100));
        run.push(a, None, &[&[1; 20], &[2; 80]]);
        assert!(run.fits(a, 100) && !run.fits(b, 100) && !run.fits(a, 101));
        run.push(a, None, &[&[3; 60]]);
        assert!(!run.fits(a, 10), "nothing after a short one");
        assert_eq!(run.buf.len(), 160);
        let mut full = GsoRun::new(2);
        full.push(a, None, &[&[0; 10]]);
        full.push(a, None, &[&[0; 10]]);
        assert!(!full.fits(a, 10), "at the segment limit");
    }
}
