//! Call bandwidth at the gatekeeper (ARQ, BRQ, DRQ). A room's call is
//! granted at most its account's call rate, else the installation's
//! (`media.max_call_rate_kbps`); more is cut down in the ACF, or refused
//! in a BRJ naming what is allowed. Every grant, and the end of a call
//! (DRQ), is told to the call core as a [`CallGrant`], so that the
//! video we send the room stays within what its call was granted.

use h323_asn1::h225::{
    BandRejectReason, BandWidth, BandwidthConfirm, BandwidthReject, BandwidthRequest,
    EndpointIdentifier, RasMessage,
};

use super::Gatekeeper;
use crate::h323::address::text;
use crate::h323::h225_call::call_identity;

/// What a call was granted: kbit/s each way, audio and video together (0
/// once it disengaged), and the call by its [`call_identity`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallGrant {
    pub call: String,
    pub kbps: u32,
}

/// H.225.0 BandWidth counts units of 100 bit/s for both directions of
/// a call together.
fn kbps_each_way(units: u32) -> u32 {
    units / 20
}

fn units(kbps_each_way: u32) -> u32 {
    kbps_each_way.saturating_mul(20)
}

impl Gatekeeper {
    /// The most a call of `endpoint` may use, in BandWidth units.
    pub(super) async fn allowed(&self, endpoint: &EndpointIdentifier) -> u32 {
        let own = self
            .registrar
            .h323_owner(&text(&endpoint.0))
            .await
            .ok()
            .and_then(|account| account.max_call_rate_kbps);
        let kbps = own.map_or(self.cfg.max_call_rate_kbps, |k| {
            k.min(self.cfg.max_call_rate_kbps)
        });
        units(kbps)
    }

    /// Tells the call core what `call` may now use.
    pub(super) fn grant(&self, call: String, units: u32) {
        if let Some(grants) = &self.grants {
            let _ = grants.send(CallGrant {
                call,
                kbps: kbps_each_way(units),
            });
        }
    }

    /// A BRQ: confirmed within what the call may use, else refused with
    /// what it may.
    pub(super) async fn bandwidth(&self, r: &BandwidthRequest) -> RasMessage {
        let allowed = self.allowed(&r.endpoint_identifier).await;
        let call = call_identity(r.call_identifier.as_ref(), Some(&r.conference_id));
        if r.band_width.0 > allowed {
            return RasMessage::bandwidthReject(BandwidthReject::required(
                r.request_seq_num.clone(),
                BandRejectReason::insufficientResources(()),
                BandWidth(allowed),
            ));
        }
        self.grant(call, r.band_width.0);
        RasMessage::bandwidthConfirm(BandwidthConfirm::required(
            r.request_seq_num.clone(),
            r.band_width.clone(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bandwidth_units_count_both_directions_in_100_bit_steps() {
        // A 768 kbit/s call, as Polycom and Cisco rooms ask for it.
        assert_eq!(kbps_each_way(15360), 768);
        assert_eq!(units(768), 15360);
    }
}
