//! RFC 4733 telephone-event payloads: decoding, and turning the stream of
//! (retransmitted, end-marked) event packets into one digit per key press.

/// One decoded telephone-event payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    pub event: u8,
    pub end: bool,
    pub volume: u8,
    pub duration: u16,
}

/// Decodes the 4-byte payload.
pub fn decode(payload: &[u8]) -> Option<Event> {
    let [event, flags, d0, d1, ..] = *payload else {
        return None;
    };
    Some(Event {
        event,
        end: flags & 0x80 != 0,
        volume: flags & 0x3f,
        duration: u16::from_be_bytes([d0, d1]),
    })
}

/// The DTMF character of an event code (0–15).
pub fn digit(event: u8) -> Option<char> {
    b"0123456789*#ABCD".get(event as usize).map(|&c| c as char)
}

/// Reports each key press once, whatever the number of packets carrying it.
#[derive(Debug, Default)]
pub struct DigitDetector {
    last_timestamp: Option<u32>,
}

impl DigitDetector {
    /// Feeds one telephone-event packet; returns the digit when a new press starts.
    pub fn on_packet(&mut self, rtp_timestamp: u32, payload: &[u8]) -> Option<char> {
        let ev = decode(payload)?;
        if self.last_timestamp == Some(rtp_timestamp) {
            return None;
        }
        self.last_timestamp = Some(rtp_timestamp);
        digit(ev.event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_digit_per_press_including_end_retransmissions() {
        let mut d = DigitDetector::default();
        let start = [5, 0x0a, 0, 160];
        let end = [5, 0x8a, 3, 0];
        assert_eq!(d.on_packet(1000, &start), Some('5'));
        assert_eq!(d.on_packet(1000, &start), None);
        assert_eq!(d.on_packet(1000, &end), None);
        assert_eq!(d.on_packet(1000, &end), None);
        assert_eq!(
            d.on_packet(2000, &[11, 0x8a, 3, 0]),
            Some('#'),
            "a press seen only by its end packet still counts"
        );
        assert_eq!(
            d.on_packet(3000, &[5, 0, 0, 0]),
            Some('5'),
            "same digit pressed again"
        );
        assert_eq!(d.on_packet(4000, &[1, 2]), None, "short payload");
        assert_eq!(
            decode(&end).unwrap(),
            Event {
                event: 5,
                end: true,
                volume: 10,
                duration: 768
            }
        );
    }
}
