//! The registrar: room accounts authenticate with HTTP digest and register
//! where they can be reached. The protocol parts are pure ([`digest`],
//! [`nonce`], [`contact`], [`binding`], [`lockout`]); [`Registrar`] puts
//! them together over a [`RegistrarStore`] (the root package's sqlx store).
//! Signaling hands it a parsed REGISTER and sends the reply it returns.

pub mod binding;
pub mod contact;
pub mod digest;
pub mod h323;
pub mod lockout;
#[cfg(test)]
mod memory_store;
pub mod nonce;
mod register;
mod store;

pub use binding::{Binding, Policy};
pub use digest::Algorithm;
pub use lockout::LockoutPolicy;
pub use register::{RegisterReply, RegisterRequest, Registrar, RegistrarConfig, RegistrarStats};
pub use store::{Account, RegistrarStore, StoreError, StoreFuture};

/// Unix seconds now: the registrar's clock (expiries, nonces, last seen).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
