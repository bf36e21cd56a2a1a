//! Call rates: the installation's maximum (`media.max_call_rate_kbps`),
//! lowered for a room account that has its own ([`super::room_policy`]). A call's rate caps the
//! video we offer and answer (b=AS/TIAS, max-br, H.245 maxBitRate) and so
//! the encoders that feed the room. An H.323 call is further held to what
//! our gatekeeper granted it (ARQ, BRQ).

use super::edges::Edges;
use crate::h323::ras::CallGrant;
use crate::sdp::{Codecs, AUDIO_KBPS};

/// Grants kept for calls not (or no longer) here before the ones of gone
/// calls are dropped: a room that never disengages cannot grow the table.
const MAX_GRANTS: usize = 1024;

/// `codecs` with video held to `rate_kbps` (audio and video together).
pub fn capped(codecs: &Codecs, rate_kbps: Option<u32>) -> Codecs {
    let mut codecs = codecs.clone();
    if let (Some(video), Some(rate)) = (codecs.video.as_mut(), rate_kbps) {
        video.max_kbps = video.max_kbps.min(video_share(rate));
    }
    codecs
}

impl Edges {
    /// Our gatekeeper granted an H.323 call `grant.kbps` (0: it
    /// disengaged): video to the room within it from now on, or from
    /// when the call's Setup comes.
    pub(super) fn on_call_grant(&mut self, grant: CallGrant) {
        if grant.kbps == 0 {
            self.grants.remove(&grant.call);
            return;
        }
        if self.grants.len() >= MAX_GRANTS {
            let live: Vec<String> = self.h323.values().map(|h| h.signalling.call_id()).collect();
            self.grants.retain(|call, _| live.contains(call));
        }
        self.grants.insert(grant.call.clone(), grant.kbps);
        let leg = self
            .h323
            .iter()
            .find(|(_, h)| h.signalling.call_id() == grant.call)
            .map(|(&leg, _)| leg);
        if let Some(leg) = leg {
            let h = self.h323.get_mut(&leg).expect("found");
            h.channels.granted_kbps = Some(video_share(grant.kbps));
            self.h323_report_media(leg);
        }
    }

    /// The video share of what an H.323 call `call` was granted, if
    /// anything.
    pub(super) fn granted_video_kbps(&self, call: &str) -> Option<u32> {
        self.grants.get(call).map(|&k| video_share(k))
    }
}

/// What video may use of a call rate, kbit/s.
fn video_share(call_kbps: u32) -> u32 {
    call_kbps.saturating_sub(AUDIO_KBPS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_lowers_video_and_never_raises_it() {
        let all = Codecs::all(4000);
        let kbps = |c: Codecs| c.video.map(|v| v.max_kbps);
        assert_eq!(kbps(capped(&all, Some(512))), Some(512 - AUDIO_KBPS));
        assert_eq!(kbps(capped(&all, Some(10_000))), Some(4000));
        assert_eq!(kbps(capped(&all, None)), Some(4000));
    }
}
