//! What the registrar needs from the durable store: accounts and their
//! bindings. The root package implements it over sqlx (SQLite or
//! PostgreSQL); tests use an in-memory one.

use std::future::Future;
use std::pin::Pin;

use crate::Binding;

/// A room account. Passwords are never kept, only digest HA1 values for
/// the realm they were set in and the H.235 key (SHA-1 of the password).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Account {
    pub user: String,
    pub display_name: String,
    pub realm: String,
    pub ha1_md5: String,
    pub ha1_sha256: String,
    /// Hex SHA-1 of the password, the H.235.1 key of H.323 RAS; empty for
    /// rooms whose password was set before MRA kept it.
    pub h235_key: String,
    /// Transports the room may register over ("udp", "tcp", "h323").
    pub transports: Vec<String>,
    /// The most its calls may use, kbit/s, audio and video together (None:
    /// the installation's maximum).
    #[serde(default)]
    pub max_call_rate_kbps: Option<u32>,
    /// Its own encryption policy (None: the installation's).
    #[serde(default)]
    pub encryption: Option<media_api::Encryption>,
}

/// The store failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("store: {0}")]
pub struct StoreError(pub String);

pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Accounts and bindings.
pub trait RegistrarStore: Send + Sync + 'static {
    fn account(&self, user: &str) -> StoreFuture<'_, Option<Account>>;
    /// Every binding stored for `user`, lapsed ones included.
    fn bindings(&self, user: &str) -> StoreFuture<'_, Vec<Binding>>;
    /// Replaces `user`'s bindings with `bindings`, atomically.
    fn replace_bindings<'a>(
        &'a self,
        user: &'a str,
        bindings: &'a [Binding],
    ) -> StoreFuture<'a, ()>;
    /// Every binding not lapsed at `now`, of every room.
    fn live_bindings(&self, now: u64) -> StoreFuture<'_, Vec<Binding>>;
    /// Records a keepalive's outcome for one binding at `now`.
    fn set_reachable<'a>(
        &'a self,
        user: &'a str,
        contact: &'a str,
        reachable: bool,
        now: u64,
    ) -> StoreFuture<'a, ()>;
}
