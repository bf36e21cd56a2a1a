//! The embedded L4 load balancer (`mra lb`, or inside `mra run`). Depends
//! on no other crate of MRA. Sans-IO cores — schedulers, the flow and
//! affinity tables ([`lru`], [`router`]), health state ([`health`]), flood
//! limits ([`rate`]), PROXY v2 ([`proxy_v2`]), port-range partitions —
//! driven by thin tokio data paths ([`udp`], [`tcp`]) that [`Balancer`]
//! runs on one worker thread per core.

pub mod balancer;
pub mod config;
pub mod hash;
pub mod health;
pub mod lru;
pub mod metrics;
pub mod pool;
pub mod port_range;
pub mod proxy_v2;
pub mod rate;
pub mod router;
mod running;
pub mod scheduler;
pub mod sip_call_id;
pub mod status;
pub mod tcp;
pub mod udp;

pub use balancer::{AdminError, Balancer};
pub use config::LbConfig;
