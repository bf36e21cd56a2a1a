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

/// The event code of a DTMF character.
pub fn event_code(digit: char) -> Option<u8> {
    b"0123456789*#ABCD"
        .iter()
        .position(|&c| c as char == digit.to_ascii_uppercase())
        .map(|p| p as u8)
}

/// Encodes the 4-byte payload.
pub fn encode(ev: Event) -> [u8; 4] {
    let [d0, d1] = ev.duration.to_be_bytes();
    [
        ev.event,
        if ev.end { 0x80 } else { 0 } | (ev.volume & 0x3f),
        d0,
        d1,
    ]
}

/// Sends one key press as RFC 4733 packets, one per 20 ms packet-time:
/// five while the key is down (100 ms), then the end packet three times.
#[derive(Debug)]
pub struct DigitSender {
    event: u8,
    ticks_per_packet: u16,
    sent: u8,
}

impl DigitSender {
    const DOWN: u8 = 5;
    const END_COPIES: u8 = 3;

    pub fn new(digit: char, clock_rate: u32) -> Option<DigitSender> {
        Some(DigitSender {
            event: event_code(digit)?,
            ticks_per_packet: (clock_rate / 50) as u16,
            sent: 0,
        })
    }

    /// The next packet's payload and whether it starts the event (RTP marker);
    /// None when the press is fully sent. All share the start's RTP timestamp.
    pub fn next_packet(&mut self) -> Option<([u8; 4], bool)> {
        if self.sent >= Self::DOWN + Self::END_COPIES {
            return None;
        }
        self.sent += 1;
        let end = self.sent > Self::DOWN;
        let duration = self.ticks_per_packet * u16::from(self.sent.min(Self::DOWN));
        let payload = encode(Event {
            event: self.event,
            end,
            volume: 10,
            duration,
        });
        Some((payload, self.sent == 1))
    }
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
    fn a_sent_press_is_detected_once() {
        let mut sender = DigitSender::new('#', 8000).unwrap();
        let mut detector = DigitDetector::default();
        let mut seen = Vec::new();
        let mut packets = 0;
        while let Some((payload, marker)) = sender.next_packet() {
            assert_eq!(marker, packets == 0);
            seen.extend(detector.on_packet(4242, &payload));
            packets += 1;
        }
        assert_eq!(packets, 8);
        assert_eq!(seen, vec!['#']);
        let last = decode(&encode(Event {
            event: 11,
            end: true,
            volume: 10,
            duration: 800,
        }))
        .unwrap();
        assert!(last.end && last.duration == 800);
    }

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
