//! SIP over a byte stream (RFC 3261 18.3): messages are delimited by the
//! blank line and Content-Length. Also recognises RFC 5626 CRLF keepalives.

use bytes::{Buf, Bytes, BytesMut};

/// Something cut from the stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// One whole message.
    Message(Bytes),
    /// A double-CRLF keepalive ping; answer with a single CRLF.
    Ping,
}

/// The stream broke the framing rules; the connection must be closed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    #[error("message exceeds {0} bytes")]
    TooLarge(usize),
    #[error("missing or invalid Content-Length on a stream transport")]
    BadContentLength,
}

/// Reassembles messages from a TCP stream.
#[derive(Debug)]
pub struct Framer {
    buf: BytesMut,
    max: usize,
}

impl Framer {
    pub fn new(max_message: usize) -> Framer {
        Framer {
            buf: BytesMut::with_capacity(4096),
            max: max_message,
        }
    }

    /// Appends bytes read from the stream.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Next complete frame, if the buffer holds one.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FramingError> {
        if self.buf.starts_with(b"\r\n\r\n") {
            self.buf.advance(4);
            return Ok(Some(Frame::Ping));
        }
        while self.buf.starts_with(b"\r\n") && self.buf.len() >= 4 {
            self.buf.advance(2);
        }
        let Some(head_end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            if self.buf.len() > self.max {
                return Err(FramingError::TooLarge(self.max));
            }
            return Ok(None);
        };
        let body_len =
            content_length(&self.buf[..head_end]).ok_or(FramingError::BadContentLength)?;
        let total = head_end + 4 + body_len;
        if total > self.max {
            return Err(FramingError::TooLarge(self.max));
        }
        if self.buf.len() < total {
            return Ok(None);
        }
        Ok(Some(Frame::Message(self.buf.split_to(total).freeze())))
    }
}

/// Content-Length (or `l`) from a header block; absent means 0 only when no body is implied.
fn content_length(head: &[u8]) -> Option<usize> {
    let head = std::str::from_utf8(head).ok()?;
    let mut found = None;
    for line in head.split("\r\n").skip(1) {
        if let Some((name, value)) = line.split_once(':') {
            let name = name.trim();
            if name.eq_ignore_ascii_case("Content-Length") || name.eq_ignore_ascii_case("l") {
                if found.is_some() {
                    return None;
                }
                found = Some(value.trim().parse().ok()?);
            }
        }
    }
    Some(found.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_messages_across_reads() {
        let mut f = Framer::new(65536);
        let msg = b"OPTIONS sip:a SIP/2.0\r\nl: 5\r\n\r\nhello";
        f.push(&msg[..10]);
        assert_eq!(f.next_frame(), Ok(None));
        f.push(&msg[10..]);
        f.push(b"\r\n\r\n");
        f.push(msg);
        assert_eq!(
            f.next_frame(),
            Ok(Some(Frame::Message(Bytes::from_static(msg))))
        );
        assert_eq!(f.next_frame(), Ok(Some(Frame::Ping)));
        assert_eq!(
            f.next_frame(),
            Ok(Some(Frame::Message(Bytes::from_static(msg))))
        );
        assert_eq!(f.next_frame(), Ok(None));
    }

    #[test]
    fn enforces_the_size_limit() {
        let mut f = Framer::new(100);
        f.push(b"INVITE sip:a SIP/2.0\r\nContent-Length: 5000\r\n\r\n");
        assert_eq!(f.next_frame(), Err(FramingError::TooLarge(100)));
        let mut f = Framer::new(100);
        f.push(&[b'x'; 200]);
        assert_eq!(f.next_frame(), Err(FramingError::TooLarge(100)));
    }

    #[test]
    fn refuses_bad_content_length() {
        let mut f = Framer::new(1000);
        f.push(b"INVITE sip:a SIP/2.0\r\nContent-Length: -1\r\n\r\n");
        assert_eq!(f.next_frame(), Err(FramingError::BadContentLength));
    }
}
