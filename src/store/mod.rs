//! The durable store: meetings, room accounts and their bindings, through
//! sqlx's `Any` driver so that the same queries run on SQLite (the default:
//! `DATA_DIR/mra.db`, WAL mode so `mra meeting …` works beside `mra run`)
//! and PostgreSQL (`--database-url postgres://…`, for clusters). Each
//! backend has its own migrations; queries use `$n` placeholders, integers
//! for flags and times, so they mean the same on both.

#[macro_use]
mod meetings;
mod rooms;
mod seats;

use std::path::Path;

use anyhow::Context;
use sqlx::any::{install_default_drivers, AnyPoolOptions};
use sqlx::AnyPool;

pub use meetings::CreateError;
pub use rooms::{rooms_csv, NewRoom, RoomError, MIN_CALL_RATE_KBPS};
pub use seats::SharedSeats;

/// Handle to the database.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    /// PostgreSQL, shared by the nodes of a cluster (else SQLite, one node's).
    shared: bool,
}

impl Store {
    /// Opens the database `url` names, or (when `None`) creates/opens
    /// `DATA_DIR/mra.db`; applies migrations.
    pub async fn open(data_dir: &Path, url: Option<&str>) -> anyhow::Result<Store> {
        install_default_drivers();
        let url = match url {
            Some(url) => url.to_owned(),
            None => {
                std::fs::create_dir_all(data_dir)
                    .with_context(|| format!("creating {}", data_dir.display()))?;
                format!("sqlite://{}?mode=rwc", data_dir.join("mra.db").display())
            }
        };
        let postgres = url.starts_with("postgres:") || url.starts_with("postgresql:");
        let pool = AnyPoolOptions::new()
            .max_connections(if postgres { 8 } else { 4 })
            .connect(&url)
            .await
            .with_context(|| format!("opening the database {}", redact(&url)))?;
        if postgres {
            sqlx::migrate!("./migrations/postgres").run(&pool).await
        } else {
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await?;
            sqlx::migrate!("./migrations/sqlite").run(&pool).await
        }
        .context("applying migrations")?;
        Ok(Store {
            pool,
            shared: postgres,
        })
    }

    /// Whether other nodes may share this database (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        self.shared
    }
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests;
