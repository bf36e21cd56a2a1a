//! Keeps the signaling core's table of room accounts' own settings (call
//! rates, encryption policies) in step with the store (read before the
//! first call): again whenever the admin API changes a room on this node,
//! and every [`REFRESH`] for changes made through another node or `mra
//! room` from the shell.

use std::sync::Arc;
use std::time::Duration;

use signaling::core::RoomPolicies;
use signaling::driver::Query;
use tokio::sync::{mpsc, watch, Notify};
use tracing::warn;

use crate::store::Store;

/// How long a change made elsewhere may take to reach this node's calls.
pub const REFRESH: Duration = Duration::from_secs(15);

/// Runs until `stop` turns true or signaling is gone; the core starts
/// with `known`.
pub async fn follow(
    store: Store,
    mut known: RoomPolicies,
    queries: mpsc::Sender<Query>,
    changed: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let mut refresh = tokio::time::interval_at(tokio::time::Instant::now() + REFRESH, REFRESH);
    loop {
        tokio::select! {
            _ = changed.notified() => {}
            _ = refresh.tick() => {}
            r = stop.changed() => if r.is_err() || *stop.borrow() { return },
        }
        match store.room_policies().await {
            Ok(policies) if policies != known => {
                if queries
                    .send(Query::RoomPolicies(Arc::new(policies.clone())))
                    .await
                    .is_err()
                {
                    return;
                }
                known = policies;
            }
            Ok(_) => {}
            Err(e) => warn!("rooms' own settings not read: {e}"),
        }
    }
}
