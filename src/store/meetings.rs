//! Meetings in the store, and the meeting service's [`Directory`] over them.

use media_api::layout::{Layout, MeetingLayout};
use media_api::Encryption;
use meeting::directory::Lookup;
use meeting::{Directory, DirectoryError, Meeting};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::Store;

/// Creating a meeting failed.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("meeting {0} already exists")]
    Exists(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

macro_rules! columns {
    () => {
        "number, password, host_pin, name, locked, layout, polling_seconds, encryption"
    };
}

impl Store {
    pub async fn create_meeting(&self, m: &Meeting) -> Result<(), CreateError> {
        let r = sqlx::query(
            "INSERT INTO meetings (number, password, host_pin, name, locked, layout, polling_seconds, encryption) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&m.number)
        .bind(&m.password)
        .bind(&m.host_pin)
        .bind(&m.name)
        .bind(i64::from(m.locked))
        .bind(m.layout.layout.map(Layout::name))
        .bind(m.layout.polling_seconds.map(i64::from))
        .bind(m.encryption.map(Encryption::name))
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
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM meetings WHERE number = $1"
        ))
        .bind(number)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(to_meeting).transpose()
    }

    pub async fn meetings(&self) -> Result<Vec<Meeting>, sqlx::Error> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM meetings ORDER BY number"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(to_meeting).collect()
    }

    /// Deletes a meeting; false when it did not exist.
    pub async fn delete_meeting(&self, number: &str) -> Result<bool, sqlx::Error> {
        let r = sqlx::query("DELETE FROM meetings WHERE number = $1")
            .bind(number)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Sets a meeting's layout settings; false when it does not exist.
    pub async fn set_meeting_layout(
        &self,
        number: &str,
        layout: MeetingLayout,
    ) -> Result<bool, sqlx::Error> {
        let r =
            sqlx::query("UPDATE meetings SET layout = $1, polling_seconds = $2 WHERE number = $3")
                .bind(layout.layout.map(Layout::name))
                .bind(layout.polling_seconds.map(i64::from))
                .bind(number)
                .execute(&self.pool)
                .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Sets a meeting's own encryption policy (None: the installation's);
    /// false when it does not exist.
    pub async fn set_meeting_encryption(
        &self,
        number: &str,
        encryption: Option<Encryption>,
    ) -> Result<bool, sqlx::Error> {
        let r = sqlx::query("UPDATE meetings SET encryption = $1 WHERE number = $2")
            .bind(encryption.map(Encryption::name))
            .bind(number)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Sets the locked flag; false when the meeting does not exist.
    pub async fn set_locked(&self, number: &str, locked: bool) -> Result<bool, sqlx::Error> {
        let r = sqlx::query("UPDATE meetings SET locked = $1 WHERE number = $2")
            .bind(i64::from(locked))
            .bind(number)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }
}

pub(super) fn to_meeting(r: &AnyRow) -> Result<Meeting, sqlx::Error> {
    Ok(Meeting {
        number: r.try_get("number")?,
        password: r.try_get("password")?,
        host_pin: r.try_get("host_pin")?,
        name: r.try_get("name")?,
        locked: r.try_get::<i64, _>("locked")? != 0,
        layout: MeetingLayout {
            layout: r
                .try_get::<Option<String>, _>("layout")?
                .and_then(|name| Layout::from_name(&name)),
            polling_seconds: r
                .try_get::<Option<i64>, _>("polling_seconds")?
                .and_then(|s| u16::try_from(s).ok()),
        },
        encryption: r
            .try_get::<Option<String>, _>("encryption")?
            .and_then(|name| Encryption::from_name(&name)),
    })
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
