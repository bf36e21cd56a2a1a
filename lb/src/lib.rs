//! The embedded L4 load balancer. Depends on no other crate of MRA.
//! So far: the sans-IO schedulers that pick a backend for a new flow, and
//! the Call-ID extractor for SIP affinity.

pub mod hash;
pub mod scheduler;
pub mod sip_call_id;
