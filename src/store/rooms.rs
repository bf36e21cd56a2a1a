//! Room accounts and their registrations in the store, and the
//! registrar's [`RegistrarStore`] over them. A password is turned into its
//! digest HA1 values (MD5 and SHA-256, for the configured realm) and its
//! H.235 key on the way in and never kept.

use media_api::Encryption;
use registrar::digest::{ha1, Algorithm};
use registrar::{unix_now, Account, Binding, RegistrarStore, StoreError, StoreFuture};
use signaling::core::{RoomPolicies, RoomPolicy};
use signaling::h323::h235;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::Store;

/// A room account to create.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct NewRoom {
    pub user: String,
    pub password: String,
    #[serde(default)]
    pub name: Option<String>,
    /// Transports it may register over; default udp and tcp.
    #[serde(default)]
    pub transports: Option<Vec<String>>,
    /// The most its calls may use, kbit/s (default: the installation's).
    #[serde(default)]
    pub max_call_rate_kbps: Option<u32>,
    /// Its own encryption policy (default: the installation's).
    #[serde(default)]
    pub encryption: Option<Encryption>,
}

/// Creating or changing a room failed.
#[derive(Debug, thiserror::Error)]
pub enum RoomError {
    #[error("room {0} already exists")]
    Exists(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// What a room may register over; new rooms get the SIP ones, H.323 (RAS)
/// registration is allowed per room.
const TRANSPORTS: [&str; 4] = ["udp", "tcp", "tls", "h323"];
const DEFAULT_TRANSPORTS: [&str; 3] = ["udp", "tcp", "tls"];

impl NewRoom {
    /// Checks it and derives the account for `realm`.
    pub fn account(&self, realm: &str) -> Result<Account, RoomError> {
        let user = self.user.trim();
        let valid_user = !user.is_empty()
            && user.len() <= 64
            && user
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.!~*'()+".contains(c));
        if !valid_user {
            return Err(RoomError::Invalid(
                "user: 1 to 64 characters, letters, digits and -_.!~*'()+".into(),
            ));
        }
        check_password(&self.password)?;
        check_call_rate(self.max_call_rate_kbps)?;
        let transports = match &self.transports {
            None => DEFAULT_TRANSPORTS.iter().map(|t| t.to_string()).collect(),
            Some(list) if list.is_empty() => {
                return Err(RoomError::Invalid("transports: at least one".into()))
            }
            Some(list) => {
                let mut out = Vec::new();
                for t in list {
                    let t = t.trim().to_ascii_lowercase();
                    if !TRANSPORTS.contains(&t.as_str()) {
                        return Err(RoomError::Invalid(format!(
                            "transport {t:?}: one of udp, tcp, h323"
                        )));
                    }
                    if !out.contains(&t) {
                        out.push(t);
                    }
                }
                out
            }
        };
        let name = self.name.as_deref().map(str::trim).unwrap_or("");
        Ok(Account {
            user: user.to_owned(),
            display_name: if name.is_empty() { user } else { name }.to_owned(),
            realm: realm.to_owned(),
            ha1_md5: ha1(Algorithm::Md5, user, realm, &self.password),
            ha1_sha256: ha1(Algorithm::Sha256, user, realm, &self.password),
            h235_key: h235::secret(&self.password),
            transports,
            max_call_rate_kbps: self.max_call_rate_kbps,
            encryption: self.encryption,
        })
    }
}

/// The least a room's call rate may be set to: audio and a small picture.
pub const MIN_CALL_RATE_KBPS: u32 = 128;

fn check_call_rate(kbps: Option<u32>) -> Result<(), RoomError> {
    match kbps {
        Some(k) if !(MIN_CALL_RATE_KBPS..=100_000).contains(&k) => Err(RoomError::Invalid(
            format!("max_call_rate_kbps: {MIN_CALL_RATE_KBPS} to 100000"),
        )),
        _ => Ok(()),
    }
}

fn check_password(password: &str) -> Result<(), RoomError> {
    if password.chars().count() < 4 || password.chars().any(char::is_control) {
        return Err(RoomError::Invalid(
            "password: at least 4 characters, no control characters".into(),
        ));
    }
    Ok(())
}

macro_rules! room_columns {
    () => {
        "user_name, display_name, realm, ha1_md5, ha1_sha256, h235_key, transports, \
         max_call_rate_kbps, encryption"
    };
}

macro_rules! binding_columns {
    () => {
        "user_name, contact, expires_at, q_milli, call_id, cseq, instance, \
         reg_id, path, source, transport, user_agent, updated_at, reachable, last_reply"
    };
}

impl Store {
    pub async fn create_room(&self, account: &Account) -> Result<(), RoomError> {
        let r = sqlx::query(concat!(
            "INSERT INTO rooms (",
            room_columns!(),
            ", created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(&account.user)
        .bind(&account.display_name)
        .bind(&account.realm)
        .bind(&account.ha1_md5)
        .bind(&account.ha1_sha256)
        .bind(&account.h235_key)
        .bind(account.transports.join(","))
        .bind(account.max_call_rate_kbps.map(i64::from))
        .bind(account.encryption.map(Encryption::name))
        .bind(unix_now() as i64)
        .execute(&self.pool)
        .await;
        match r {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(RoomError::Exists(account.user.clone()))
            }
            Err(e) => Err(e.into()),
            Ok(_) => Ok(()),
        }
    }

    pub async fn room(&self, user: &str) -> Result<Option<Account>, sqlx::Error> {
        let row = sqlx::query(concat!(
            "SELECT ",
            room_columns!(),
            " FROM rooms WHERE user_name = $1"
        ))
        .bind(user)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(to_account).transpose()
    }

    pub async fn rooms(&self) -> Result<Vec<Account>, sqlx::Error> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            room_columns!(),
            " FROM rooms ORDER BY user_name"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(to_account).collect()
    }

    /// Deletes a room and its bindings; false when it did not exist.
    pub async fn delete_room(&self, user: &str) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM bindings WHERE user_name = $1")
            .bind(user)
            .execute(&mut *tx)
            .await?;
        let r = sqlx::query("DELETE FROM rooms WHERE user_name = $1")
            .bind(user)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(r.rows_affected() > 0)
    }

    /// Sets a room's password (its HA1 values for `realm` and its H.235
    /// key); false when the room does not exist.
    pub async fn set_room_password(
        &self,
        user: &str,
        password: &str,
        realm: &str,
    ) -> Result<bool, RoomError> {
        check_password(password)?;
        let r = sqlx::query(
            "UPDATE rooms SET realm = $1, ha1_md5 = $2, ha1_sha256 = $3, h235_key = $4 \
             WHERE user_name = $5",
        )
        .bind(realm)
        .bind(ha1(Algorithm::Md5, user, realm, password))
        .bind(ha1(Algorithm::Sha256, user, realm, password))
        .bind(h235::secret(password))
        .bind(user)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Sets or clears (None: the installation's) a room's call rate; false
    /// when the room does not exist.
    pub async fn set_room_call_rate(
        &self,
        user: &str,
        kbps: Option<u32>,
    ) -> Result<bool, RoomError> {
        check_call_rate(kbps)?;
        let r = sqlx::query("UPDATE rooms SET max_call_rate_kbps = $1 WHERE user_name = $2")
            .bind(kbps.map(i64::from))
            .bind(user)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Sets a room's own encryption policy (None: the installation's);
    /// false when it does not exist.
    pub async fn set_room_encryption(
        &self,
        user: &str,
        encryption: Option<Encryption>,
    ) -> Result<bool, sqlx::Error> {
        let r = sqlx::query("UPDATE rooms SET encryption = $1 WHERE user_name = $2")
            .bind(encryption.map(Encryption::name))
            .bind(user)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// The settings of every room that has some of its own (a call rate,
    /// an encryption policy).
    pub async fn room_policies(&self) -> Result<RoomPolicies, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT user_name, max_call_rate_kbps, encryption FROM rooms \
             WHERE max_call_rate_kbps IS NOT NULL OR encryption IS NOT NULL",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let policy = RoomPolicy {
                    max_call_rate_kbps: r
                        .try_get::<Option<i64>, _>("max_call_rate_kbps")?
                        .map(|k| k as u32),
                    encryption: encryption(r)?,
                };
                Ok((r.try_get("user_name")?, policy))
            })
            .collect()
    }

    /// Bindings of `user`, or of every room when `None`.
    pub async fn bindings(&self, user: Option<&str>) -> Result<Vec<Binding>, sqlx::Error> {
        let rows = match user {
            Some(user) => {
                sqlx::query(concat!(
                    "SELECT ",
                    binding_columns!(),
                    " FROM bindings WHERE user_name = $1 ORDER BY contact"
                ))
                .bind(user)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(concat!(
                    "SELECT ",
                    binding_columns!(),
                    " FROM bindings ORDER BY user_name, contact"
                ))
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(to_binding).collect()
    }

    /// Bindings of every room not lapsed at `now`.
    pub async fn live_bindings(&self, now: u64) -> Result<Vec<Binding>, sqlx::Error> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            binding_columns!(),
            " FROM bindings WHERE expires_at > $1 ORDER BY user_name, contact"
        ))
        .bind(now as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(to_binding).collect()
    }

    /// Records whether a binding answered its keepalive at `now`.
    pub async fn set_reachable(
        &self,
        user: &str,
        contact: &str,
        reachable: bool,
        now: u64,
    ) -> Result<(), sqlx::Error> {
        let update = if reachable {
            sqlx::query(
                "UPDATE bindings SET reachable = 1, last_reply = $1 \
                 WHERE user_name = $2 AND contact = $3",
            )
            .bind(now as i64)
        } else {
            sqlx::query("UPDATE bindings SET reachable = 0 WHERE user_name = $1 AND contact = $2")
        };
        update.bind(user).bind(contact).execute(&self.pool).await?;
        Ok(())
    }

    /// Replaces `user`'s bindings in one transaction.
    pub async fn replace_bindings(
        &self,
        user: &str,
        bindings: &[Binding],
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM bindings WHERE user_name = $1")
            .bind(user)
            .execute(&mut *tx)
            .await?;
        for b in bindings {
            sqlx::query(concat!(
                "INSERT INTO bindings (",
                binding_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
            ))
            .bind(user)
            .bind(&b.contact)
            .bind(b.expires_at as i64)
            .bind((b.q * 1000.0).round() as i64)
            .bind(&b.call_id)
            .bind(i64::from(b.cseq))
            .bind(&b.instance)
            .bind(b.reg_id.map(i64::from))
            .bind(b.path.join("\n"))
            .bind(&b.source)
            .bind(&b.transport)
            .bind(&b.user_agent)
            .bind(b.updated_at as i64)
            .bind(b.reachable.map(i64::from))
            .bind(b.last_reply as i64)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }
}

fn to_account(r: &AnyRow) -> Result<Account, sqlx::Error> {
    Ok(Account {
        user: r.try_get("user_name")?,
        display_name: r.try_get("display_name")?,
        realm: r.try_get("realm")?,
        ha1_md5: r.try_get("ha1_md5")?,
        ha1_sha256: r.try_get("ha1_sha256")?,
        h235_key: r.try_get("h235_key")?,
        transports: r
            .try_get::<String, _>("transports")?
            .split(',')
            .map(str::to_owned)
            .collect(),
        max_call_rate_kbps: r
            .try_get::<Option<i64>, _>("max_call_rate_kbps")?
            .map(|k| k as u32),
        encryption: encryption(r)?,
    })
}

/// A row's own encryption policy (an unknown name reads as none).
fn encryption(r: &AnyRow) -> Result<Option<Encryption>, sqlx::Error> {
    Ok(r.try_get::<Option<String>, _>("encryption")?
        .and_then(|name| Encryption::from_name(&name)))
}

fn to_binding(r: &AnyRow) -> Result<Binding, sqlx::Error> {
    let path: String = r.try_get("path")?;
    Ok(Binding {
        user: r.try_get("user_name")?,
        contact: r.try_get("contact")?,
        expires_at: r.try_get::<i64, _>("expires_at")? as u64,
        q: r.try_get::<i64, _>("q_milli")? as f32 / 1000.0,
        call_id: r.try_get("call_id")?,
        cseq: r.try_get::<i64, _>("cseq")? as u32,
        instance: r.try_get("instance")?,
        reg_id: r.try_get::<Option<i64>, _>("reg_id")?.map(|v| v as u32),
        path: path.lines().map(str::to_owned).collect(),
        source: r.try_get("source")?,
        transport: r.try_get("transport")?,
        user_agent: r.try_get("user_agent")?,
        updated_at: r.try_get::<i64, _>("updated_at")? as u64,
        reachable: r.try_get::<Option<i64>, _>("reachable")?.map(|v| v != 0),
        last_reply: r
            .try_get::<Option<i64>, _>("last_reply")?
            .unwrap_or_default() as u64,
    })
}

fn store_error(e: sqlx::Error) -> StoreError {
    StoreError(e.to_string())
}

impl RegistrarStore for Store {
    fn account(&self, user: &str) -> StoreFuture<'_, Option<Account>> {
        let user = user.to_owned();
        Box::pin(async move { self.room(&user).await.map_err(store_error) })
    }

    fn bindings(&self, user: &str) -> StoreFuture<'_, Vec<Binding>> {
        let user = user.to_owned();
        Box::pin(async move {
            Store::bindings(self, Some(&user))
                .await
                .map_err(store_error)
        })
    }

    fn live_bindings(&self, now: u64) -> StoreFuture<'_, Vec<Binding>> {
        Box::pin(async move { Store::live_bindings(self, now).await.map_err(store_error) })
    }

    fn set_reachable<'a>(
        &'a self,
        user: &'a str,
        contact: &'a str,
        reachable: bool,
        now: u64,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            Store::set_reachable(self, user, contact, reachable, now)
                .await
                .map_err(store_error)
        })
    }

    fn replace_bindings<'a>(
        &'a self,
        user: &'a str,
        bindings: &'a [Binding],
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            Store::replace_bindings(self, user, bindings)
                .await
                .map_err(store_error)
        })
    }
}

/// A room as operators see it: no HA1 values, its registrations, status.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RoomView {
    pub user: String,
    pub name: String,
    pub transports: Vec<String>,
    /// Its own call rate, kbit/s (null: the installation's).
    pub max_call_rate_kbps: Option<u32>,
    /// Its own encryption policy (null: the installation's).
    pub encryption: Option<Encryption>,
    /// "online": registered and answering keepalives; "offline":
    /// registered but its keepalives go unanswered; "unregistered".
    pub status: &'static str,
    /// Unix seconds the room last answered (REGISTER or OPTIONS).
    pub last_seen: Option<u64>,
    pub user_agent: Option<String>,
    pub contacts: Vec<ContactView>,
}

/// One live binding of a room.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ContactView {
    pub contact: String,
    pub expires_in: u64,
    pub q: f32,
    /// Where its REGISTER came from (what calls to it are sent to).
    pub source: String,
    /// "sip" or "h323".
    pub protocol: &'static str,
    pub transport: String,
    pub user_agent: Option<String>,
    /// Whether it answered the last keepalive (null: not probed yet).
    pub reachable: Option<bool>,
}

impl RoomView {
    pub fn new(account: &Account, bindings: &[Binding], now: u64) -> RoomView {
        let live: Vec<&Binding> = bindings
            .iter()
            .filter(|b| b.user == account.user && b.expires_at > now)
            .collect();
        let newest = live.iter().max_by_key(|b| b.updated_at);
        RoomView {
            user: account.user.clone(),
            name: account.display_name.clone(),
            transports: account.transports.clone(),
            max_call_rate_kbps: account.max_call_rate_kbps,
            encryption: account.encryption,
            status: if live.is_empty() {
                "unregistered"
            } else if live.iter().any(|b| b.reachable != Some(false)) {
                "online"
            } else {
                "offline"
            },
            last_seen: bindings
                .iter()
                .filter(|b| b.user == account.user)
                .map(|b| b.last_reply.max(b.updated_at))
                .max(),
            user_agent: newest.and_then(|b| b.user_agent.clone()),
            contacts: live
                .iter()
                .map(|b| ContactView {
                    contact: b.contact.clone(),
                    expires_in: b.expires_at - now,
                    q: b.q,
                    source: b.source.clone(),
                    protocol: if b.is_h323() { "h323" } else { "sip" },
                    transport: b.transport.clone(),
                    user_agent: b.user_agent.clone(),
                    reachable: b.reachable,
                })
                .collect(),
        }
    }
}

impl Store {
    /// Every room (or the one named) as operators see it.
    pub async fn room_views(&self, user: Option<&str>) -> Result<Vec<RoomView>, sqlx::Error> {
        let accounts = match user {
            Some(user) => self.room(user).await?.into_iter().collect(),
            None => self.rooms().await?,
        };
        let bindings = Store::bindings(self, user).await?;
        let now = unix_now();
        Ok(accounts
            .iter()
            .map(|a| RoomView::new(a, &bindings, now))
            .collect())
    }
}

/// Rooms as CSV, one line per contact (rooms without any get one line).
pub fn rooms_csv(rooms: &[RoomView]) -> String {
    fn field(s: &str) -> String {
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_owned()
        }
    }
    let mut out =
        String::from("user,name,status,last_seen,contact,source,transport,user_agent,expires_in\n");
    for r in rooms {
        let last_seen = r.last_seen.map(|t| t.to_string()).unwrap_or_default();
        let head = [r.user.as_str(), &r.name, r.status, &last_seen]
            .map(field)
            .join(",");
        if r.contacts.is_empty() {
            out.push_str(&format!("{head},,,,,\n"));
        }
        for c in &r.contacts {
            let ua = c.user_agent.as_deref().unwrap_or("");
            let tail = [
                c.contact.as_str(),
                &c.source,
                &c.transport,
                ua,
                &c.expires_in.to_string(),
            ]
            .map(field)
            .join(",");
            out.push_str(&format!("{head},{tail}\n"));
        }
    }
    out
}
