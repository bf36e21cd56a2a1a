//! The durable store: meetings (and later rooms, bindings, CDRs) in SQLite
//! through sqlx, with embedded migrations. WAL mode lets `mra meeting …`
//! commands work while `mra run` holds the same database.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use meeting::directory::Lookup;
use meeting::{Directory, DirectoryError, Meeting};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{Row, SqlitePool};

/// Handle to the database.
#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
}

/// Creating a meeting failed.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("meeting {0} already exists")]
    Exists(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl Store {
    /// Opens (creating if needed) `DIR/mra.db` and applies migrations.
    pub async fn open(data_dir: &Path) -> anyhow::Result<Store> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        let url = format!("sqlite://{}", data_dir.join("mra.db").display());
        let opts = SqliteConnectOptions::from_str(&url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .context("applying migrations")?;
        Ok(Store { pool })
    }

    pub async fn create_meeting(&self, m: &Meeting) -> Result<(), CreateError> {
        let r = sqlx::query("INSERT INTO meetings (number, password, host_pin, name, locked) VALUES (?, ?, ?, ?, ?)")
            .bind(&m.number)
            .bind(&m.password)
            .bind(&m.host_pin)
            .bind(&m.name)
            .bind(m.locked)
            .execute(&self.pool)
            .await;
        match r {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(CreateError::Exists(m.number.clone()))
            }
            Err(e) => Err(e.into()),
            Ok(_) => Ok(()),
        }
    }

    pub async fn meeting(&self, number: &str) -> Result<Option<Meeting>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT number, password, host_pin, name, locked FROM meetings WHERE number = ?",
        )
        .bind(number)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| to_meeting(&r)))
    }

    pub async fn meetings(&self) -> Result<Vec<Meeting>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT number, password, host_pin, name, locked FROM meetings ORDER BY number",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(to_meeting).collect())
    }

    /// Deletes a meeting; false when it did not exist.
    pub async fn delete_meeting(&self, number: &str) -> Result<bool, sqlx::Error> {
        let r = sqlx::query("DELETE FROM meetings WHERE number = ?")
            .bind(number)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Sets the locked flag; false when the meeting does not exist.
    pub async fn set_locked(&self, number: &str, locked: bool) -> Result<bool, sqlx::Error> {
        let r = sqlx::query("UPDATE meetings SET locked = ? WHERE number = ?")
            .bind(locked)
            .bind(number)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }
}

fn to_meeting(r: &sqlx::sqlite::SqliteRow) -> Meeting {
    Meeting {
        number: r.get("number"),
        password: r.get("password"),
        host_pin: r.get("host_pin"),
        name: r.get("name"),
        locked: r.get("locked"),
    }
}

impl Directory for Store {
    fn find(&self, number: &str) -> Lookup<'_> {
        let number = number.to_owned();
        Box::pin(async move {
            self.meeting(&number)
                .await
                .map_err(|e| DirectoryError(e.to_string()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meeting::NewMeeting;

    #[tokio::test]
    async fn meetings_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let m = NewMeeting {
            number: "123456789".into(),
            password: Some("4321".into()),
            ..Default::default()
        }
        .validate()
        .unwrap();
        {
            let store = Store::open(dir.path()).await.unwrap();
            store.create_meeting(&m).await.unwrap();
            assert!(matches!(
                store.create_meeting(&m).await,
                Err(CreateError::Exists(_))
            ));
        }
        let store = Store::open(dir.path()).await.unwrap();
        assert_eq!(store.meeting("123456789").await.unwrap(), Some(m));
        assert!(store.set_locked("123456789", true).await.unwrap());
        assert!(store.meeting("123456789").await.unwrap().unwrap().locked);
        assert!(store.delete_meeting("123456789").await.unwrap());
        assert!(store.meetings().await.unwrap().is_empty());
    }
}
