//! H.245 master/slave determination (clause 8.2): the terminal type
//! decides, then the 24-bit random status determination numbers; equal
//! numbers are indeterminate and the procedure runs again. Pure: fed the
//! remote's MasterSlaveDetermination or Ack, says what to answer.

/// Our terminal type: an MCU with an MC (H.323 table 1), which outranks
/// the rooms (terminals, 50) so that we stay master of the conference.
pub const MCU_TERMINAL_TYPE: u8 = 190;

const MODULUS: u32 = 1 << 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Master,
    Slave,
}

impl Decision {
    pub fn opposite(self) -> Decision {
        match self {
            Decision::Master => Decision::Slave,
            Decision::Slave => Decision::Master,
        }
    }
}

/// What to do after an incoming MasterSlaveDetermination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Send MasterSlaveDeterminationAck with this decision (the remote's
    /// role).
    Ack(Decision),
    /// Send MasterSlaveDeterminationReject (identical numbers).
    Reject,
}

#[derive(Debug, Clone)]
pub struct MasterSlave {
    pub terminal_type: u8,
    pub number: u32,
    /// Our role, once determined.
    pub role: Option<Decision>,
    /// Whether we acknowledged the remote's decision of our role.
    acked: bool,
}

impl MasterSlave {
    pub fn new(terminal_type: u8, random: u32) -> MasterSlave {
        MasterSlave {
            terminal_type,
            number: random % MODULUS,
            role: None,
            acked: false,
        }
    }

    /// The remote sent its terminal type and number.
    pub fn on_request(&mut self, terminal_type: u8, number: u32) -> Answer {
        let ours = match terminal_type.cmp(&self.terminal_type) {
            std::cmp::Ordering::Greater => Decision::Slave,
            std::cmp::Ordering::Less => Decision::Master,
            std::cmp::Ordering::Equal => {
                let d = number.wrapping_sub(self.number) % MODULUS;
                if d == 0 || d == MODULUS / 2 {
                    return Answer::Reject;
                }
                if d < MODULUS / 2 {
                    Decision::Slave
                } else {
                    Decision::Master
                }
            }
        };
        self.role = Some(ours);
        Answer::Ack(ours.opposite())
    }

    /// The remote acknowledged with `decision` (our role). Returns the Ack
    /// to send back when the remote's role has not been acknowledged yet.
    pub fn on_ack(&mut self, decision: Decision) -> Option<Decision> {
        let first = self.role.is_none();
        self.role = Some(decision);
        if first && !self.acked {
            self.acked = true;
            return Some(decision.opposite());
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_type_then_numbers_decide() {
        let mut mcu = MasterSlave::new(MCU_TERMINAL_TYPE, 5);
        assert_eq!(mcu.on_request(50, 99), Answer::Ack(Decision::Slave));
        assert_eq!(mcu.role, Some(Decision::Master));

        let mut a = MasterSlave::new(50, 10);
        assert_eq!(a.on_request(50, 20), Answer::Ack(Decision::Master));
        assert_eq!(a.role, Some(Decision::Slave));
        let mut b = MasterSlave::new(50, 20);
        assert_eq!(b.on_request(50, 10), Answer::Ack(Decision::Slave));
        assert_eq!(b.role, Some(Decision::Master));
        // Modulo 2^24: a number just below ours wraps to "larger" only
        // beyond half the range.
        let mut c = MasterSlave::new(50, 0);
        assert_eq!(c.on_request(50, 0xff_ffff), Answer::Ack(Decision::Slave));
        assert_eq!(MasterSlave::new(50, 7).on_request(50, 7), Answer::Reject);
        assert_eq!(
            MasterSlave::new(50, 0).on_request(50, 0x80_0000),
            Answer::Reject
        );
    }

    #[test]
    fn an_ack_to_our_request_alone_is_acknowledged_back() {
        let mut us = MasterSlave::new(MCU_TERMINAL_TYPE, 1);
        assert_eq!(us.on_ack(Decision::Master), Some(Decision::Slave));
        assert_eq!(us.role, Some(Decision::Master));
        assert_eq!(us.on_ack(Decision::Master), None, "only once");
        // Both sides sent requests: our Ack went already, none back.
        let mut both = MasterSlave::new(MCU_TERMINAL_TYPE, 1);
        both.on_request(50, 3);
        assert_eq!(both.on_ack(Decision::Master), None);
    }
}
