//! The embedded L4 load balancer. Depends on no other crate of MRA.
//! So far: the sans-IO schedulers that pick a backend for a new flow.

pub mod hash;
pub mod scheduler;
