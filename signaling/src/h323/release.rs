//! How H.323 says why a call ends: the Q.931 cause of ReleaseComplete and
//! its H.225.0 reason (the causes as ITU-T Q.1912.5 maps the equivalent SIP
//! responses to ISUP).

use h323_asn1::h225::ReleaseCompleteReason as Reason;

use super::q931::cause;
use crate::release::Release;

/// Q.931 cause and H.225.0 reason for `release`.
pub fn cause_and_reason(release: Release) -> (u8, Reason) {
    match release {
        Release::UnknownMeeting => (
            cause::UNALLOCATED_NUMBER,
            Reason::unreachableDestination(()),
        ),
        Release::Forbidden | Release::NotEncrypted => {
            (cause::CALL_REJECTED, Reason::securityDenied(()))
        }
        Release::Full => (cause::USER_BUSY, Reason::undefinedReason(())),
        Release::Timeout => (cause::RECOVERY_ON_TIMER_EXPIRY, Reason::undefinedReason(())),
        Release::Incompatible => (cause::INCOMPATIBLE_DESTINATION, Reason::undefinedReason(())),
        Release::Unavailable | Release::MeetingLost => {
            (cause::TEMPORARY_FAILURE, Reason::gatewayResources(()))
        }
        Release::Normal | Release::Cancelled | Release::Gone => {
            (cause::NORMAL_CLEARING, Reason::undefinedReason(()))
        }
    }
}
