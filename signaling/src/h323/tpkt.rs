//! TPKT framing (RFC 1006) of H.225.0 call signalling and H.245 over TCP:
//! version 3, a reserved octet, and a 16-bit length that counts the 4-octet
//! header. Sans-IO: bytes in, whole packets out.

use thiserror::Error;

pub const HEADER: usize = 4;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum TpktError {
    #[error("not a TPKT header (version {0}, expected 3)")]
    Version(u8),
    #[error("TPKT length {0} is below the header size")]
    Length(usize),
}

/// Collects a TCP byte stream and cuts it into TPKT payloads.
#[derive(Debug, Default)]
pub struct TpktReader {
    buf: Vec<u8>,
}

impl TpktReader {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole packet's payload, `Ok(None)` when more bytes are
    /// needed. An error means the stream is not TPKT: close it. Empty
    /// packets (length 4, a keepalive some stacks send) are skipped.
    pub fn next_packet(&mut self) -> Result<Option<Vec<u8>>, TpktError> {
        loop {
            if self.buf.len() < HEADER {
                return Ok(None);
            }
            if self.buf[0] != 3 {
                return Err(TpktError::Version(self.buf[0]));
            }
            let len = usize::from(u16::from_be_bytes([self.buf[2], self.buf[3]]));
            if len < HEADER {
                return Err(TpktError::Length(len));
            }
            if self.buf.len() < len {
                return Ok(None);
            }
            let payload = self.buf[HEADER..len].to_vec();
            self.buf.drain(..len);
            if !payload.is_empty() {
                return Ok(Some(payload));
            }
        }
    }
}

/// `payload` framed as one TPKT packet (at most 65 531 octets).
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let len = u16::try_from(payload.len() + HEADER).expect("TPKT payload fits 16 bits");
    let mut out = Vec::with_capacity(usize::from(len));
    out.extend_from_slice(&[3, 0]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_split_and_joined_across_reads_come_out_whole() {
        let stream = [frame(b"first"), frame(&[]), frame(b"second")].concat();
        let mut r = TpktReader::default();
        let mut out = Vec::new();
        for chunk in stream.chunks(3) {
            r.push(chunk);
            while let Some(p) = r.next_packet().unwrap() {
                out.push(p);
            }
        }
        assert_eq!(out, [b"first".to_vec(), b"second".to_vec()]);
    }

    #[test]
    fn a_stream_that_is_not_tpkt_is_refused() {
        let mut r = TpktReader::default();
        r.push(b"GET / HTTP/1.1\r\n");
        assert_eq!(r.next_packet(), Err(TpktError::Version(b'G')));
        let mut r = TpktReader::default();
        r.push(&[3, 0, 0, 2]);
        assert_eq!(r.next_packet(), Err(TpktError::Length(2)));
    }
}
