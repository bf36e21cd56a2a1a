//! H.323 endpoint registrations (RAS RRQ, lightweight RRQ, URQ) kept as
//! bindings of the room's account in the same store as SIP's, so rooms
//! show one list whatever they speak. A binding of transport [`H323`]
//! holds the endpoint identifier (in `call_id`), the call-signalling
//! address (in `contact`, as `h323:alias@ip:port`) and the RAS address the
//! request came from (in `source`). The RAS protocol itself lives in
//! signaling; this is the bookkeeping.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use tracing::info;

use crate::binding::H323;
use crate::{Account, Binding, Registrar, StoreError};

/// A full registration request, as far as the registrar cares.
#[derive(Debug, Clone)]
pub struct H323Registration {
    pub call_signal: SocketAddr,
    /// Where its RAS messages come from.
    pub ras: SocketAddr,
    /// Seconds the registration lives without a refresh.
    pub time_to_live: u32,
    pub vendor: Option<String>,
    /// A random tag for the identifier of a new endpoint.
    pub tag: u32,
}

/// Why a registration was refused.
#[derive(Debug, thiserror::Error)]
pub enum H323Refusal {
    #[error("no alias names a room that may register over H.323")]
    UnknownAlias,
    #[error("endpoint not registered")]
    NotRegistered,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A live registration.
#[derive(Debug, Clone, PartialEq)]
pub struct H323Endpoint {
    pub user: String,
    pub endpoint_id: String,
    pub alias: String,
    pub call_signal: SocketAddr,
}

impl H323Endpoint {
    /// The endpoint an H.323 binding describes (None for a SIP binding).
    pub fn from_binding(b: &Binding) -> Option<H323Endpoint> {
        let (alias, call_signal) = b.contact.strip_prefix("h323:")?.rsplit_once('@')?;
        Some(H323Endpoint {
            user: b.user.clone(),
            endpoint_id: b.call_id.clone(),
            alias: alias.to_owned(),
            call_signal: call_signal.parse().ok()?,
        })
    }
}

/// The room account an endpoint identifier belongs to.
fn owner(endpoint_id: &str) -> Option<&str> {
    endpoint_id.rsplit_once('/').map(|(user, _)| user)
}

/// An endpoint identifier for a new registration of `user`: the account
/// and a random tag, so that lightweight re-registrations find the room.
fn endpoint_id(user: &str, tag: u32) -> String {
    format!("{user}/{tag:08x}")
}

impl Registrar {
    /// The room the first of `aliases` that names a room allowed to use
    /// H.323 belongs to.
    pub async fn h323_account(&self, aliases: &[String]) -> Result<Account, H323Refusal> {
        for alias in aliases {
            if let Some(account) = self.store.account(alias).await? {
                if account.transports.iter().any(|t| t == H323) {
                    return Ok(account);
                }
            }
        }
        Err(H323Refusal::UnknownAlias)
    }

    /// The room an endpoint identifier we gave out belongs to.
    pub async fn h323_owner(&self, endpoint_id: &str) -> Result<Account, H323Refusal> {
        let user = owner(endpoint_id).ok_or(H323Refusal::NotRegistered)?;
        self.store
            .account(user)
            .await?
            .ok_or(H323Refusal::NotRegistered)
    }

    /// Registers (or re-registers) an endpoint as `account` (see
    /// [`Registrar::h323_account`]). One registration per room: a new one
    /// replaces the room's previous H.323 binding.
    pub async fn register_h323(
        &self,
        account: &Account,
        req: &H323Registration,
        now: u64,
    ) -> Result<H323Endpoint, H323Refusal> {
        let (mut bindings, previous): (Vec<Binding>, Vec<Binding>) = self
            .store
            .bindings(&account.user)
            .await?
            .into_iter()
            .partition(|b| !b.is_h323());
        // The same endpoint registering again keeps its identifier.
        let endpoint_id = previous
            .iter()
            .find(|b| b.source == req.ras.to_string() && b.expires_at > now)
            .map_or_else(
                || endpoint_id(&account.user, req.tag),
                |b| b.call_id.clone(),
            );
        let binding = Binding {
            user: account.user.clone(),
            contact: format!("h323:{}@{}", account.user, req.call_signal),
            expires_at: now + u64::from(req.time_to_live),
            q: 1.0,
            call_id: endpoint_id,
            cseq: 0,
            instance: None,
            reg_id: None,
            path: Vec::new(),
            source: req.ras.to_string(),
            transport: H323.to_owned(),
            user_agent: req.vendor.clone(),
            updated_at: now,
            reachable: None,
            last_reply: now,
        };
        let endpoint = H323Endpoint::from_binding(&binding).expect("well-formed");
        bindings.push(binding);
        self.store
            .replace_bindings(&account.user, &bindings)
            .await?;
        self.stats.registered.fetch_add(1, Ordering::Relaxed);
        info!(user = %account.user, ras = %req.ras, call_signal = %req.call_signal, "H.323 endpoint registered");
        Ok(endpoint)
    }

    /// A lightweight re-registration: the endpoint's registration lives
    /// another `time_to_live` seconds.
    pub async fn refresh_h323(
        &self,
        endpoint_id: &str,
        time_to_live: u32,
        now: u64,
    ) -> Result<H323Endpoint, H323Refusal> {
        self.change_h323(endpoint_id, now, |b| {
            b.expires_at = now + u64::from(time_to_live);
            b.updated_at = now;
            b.last_reply = now;
            true
        })
        .await
    }

    /// Ends the endpoint's registration.
    pub async fn unregister_h323(
        &self,
        endpoint_id: &str,
        now: u64,
    ) -> Result<H323Endpoint, H323Refusal> {
        self.change_h323(endpoint_id, now, |_| false).await
    }

    /// The live registration of `endpoint_id`.
    pub async fn h323_endpoint(
        &self,
        endpoint_id: &str,
        now: u64,
    ) -> Result<H323Endpoint, H323Refusal> {
        let user = owner(endpoint_id).ok_or(H323Refusal::NotRegistered)?;
        self.store
            .bindings(user)
            .await?
            .iter()
            .find(|b| b.is_h323() && b.call_id == endpoint_id && b.expires_at > now)
            .and_then(H323Endpoint::from_binding)
            .ok_or(H323Refusal::NotRegistered)
    }

    /// Live H.323 registrations of every room.
    pub async fn h323_endpoints(&self, now: u64) -> Result<Vec<H323Endpoint>, StoreError> {
        Ok(self
            .store
            .live_bindings(now)
            .await?
            .iter()
            .filter(|b| b.is_h323())
            .filter_map(H323Endpoint::from_binding)
            .collect())
    }

    /// Applies `keep` to the endpoint's live binding (dropping it when
    /// `keep` says false) and stores the result.
    async fn change_h323(
        &self,
        endpoint_id: &str,
        now: u64,
        keep: impl FnOnce(&mut Binding) -> bool,
    ) -> Result<H323Endpoint, H323Refusal> {
        let user = owner(endpoint_id).ok_or(H323Refusal::NotRegistered)?;
        let mut bindings = self.store.bindings(user).await?;
        let i = bindings
            .iter()
            .position(|b| b.is_h323() && b.call_id == endpoint_id && b.expires_at > now)
            .ok_or(H323Refusal::NotRegistered)?;
        let endpoint =
            H323Endpoint::from_binding(&bindings[i]).ok_or(H323Refusal::NotRegistered)?;
        if !keep(&mut bindings[i]) {
            bindings.remove(i);
        }
        self.store.replace_bindings(user, &bindings).await?;
        Ok(endpoint)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::memory_store::{block_on, MemoryStore};
    use crate::{Account, RegistrarConfig};

    fn registrar() -> (Registrar, Arc<MemoryStore>) {
        let mut store = MemoryStore::default();
        for (user, transports) in [("1001", vec!["udp", "h323"]), ("2002", vec!["udp"])] {
            store.accounts.insert(
                user.into(),
                Account {
                    user: user.into(),
                    display_name: user.into(),
                    realm: "mra".into(),
                    ha1_md5: String::new(),
                    ha1_sha256: String::new(),
                    h235_key: String::new(),
                    transports: transports.into_iter().map(String::from).collect(),
                    max_call_rate_kbps: None,
                    encryption: None,
                },
            );
        }
        let store = Arc::new(store);
        (
            Registrar::new(RegistrarConfig::default(), store.clone()),
            store,
        )
    }

    fn request() -> H323Registration {
        H323Registration {
            call_signal: "192.0.2.5:1720".parse().unwrap(),
            ras: "192.0.2.5:1719".parse().unwrap(),
            time_to_live: 300,
            vendor: Some("Room 1.0".into()),
            tag: 7,
        }
    }

    #[test]
    fn an_alias_of_an_h323_room_registers_refreshes_and_unregisters() {
        let (r, store) = registrar();
        block_on(async {
            let aliases = ["Board".to_string(), "1001".to_string()];
            let room = r.h323_account(&aliases).await.unwrap();
            assert_eq!(room.user, "1001");
            let e = r.register_h323(&room, &request(), 1000).await.unwrap();
            assert_eq!(
                (e.user.as_str(), e.endpoint_id.as_str()),
                ("1001", "1001/00000007")
            );
            assert_eq!(e.call_signal, "192.0.2.5:1720".parse().unwrap());
            // Registering again from the same RAS address keeps the identifier.
            let mut again = request();
            again.tag = 9;
            let e2 = r.register_h323(&room, &again, 1010).await.unwrap();
            assert_eq!(r.h323_owner(&e2.endpoint_id).await.unwrap(), room);
            assert_eq!(e2.endpoint_id, e.endpoint_id);
            assert_eq!(store.bindings.lock().unwrap()["1001"].len(), 1);

            assert!(r.refresh_h323(&e.endpoint_id, 300, 1300).await.is_ok());
            assert!(
                r.h323_endpoint(&e.endpoint_id, 1500).await.is_ok(),
                "refreshed"
            );
            assert_eq!(
                r.h323_endpoints(1500).await.unwrap(),
                std::slice::from_ref(&e)
            );
            assert!(
                r.live_bindings(1500).await.is_empty(),
                "no SIP keepalives for it"
            );
            r.unregister_h323(&e.endpoint_id, 1500).await.unwrap();
            assert!(matches!(
                r.h323_endpoint(&e.endpoint_id, 1500).await,
                Err(H323Refusal::NotRegistered)
            ));
            assert!(matches!(
                r.refresh_h323("1001/ffffffff", 300, 1500).await,
                Err(H323Refusal::NotRegistered)
            ));
        });
    }

    #[test]
    fn rooms_not_allowed_h323_and_unknown_aliases_are_refused() {
        let (r, _) = registrar();
        block_on(async {
            for aliases in [&["2002".to_string()][..], &["nobody".into()], &[]] {
                assert!(matches!(
                    r.h323_account(aliases).await,
                    Err(H323Refusal::UnknownAlias)
                ));
            }
        });
    }

    #[test]
    fn a_lapsed_registration_is_gone() {
        let (r, _) = registrar();
        block_on(async {
            let room = r.h323_account(&["1001".into()]).await.unwrap();
            let e = r.register_h323(&room, &request(), 1000).await.unwrap();
            assert!(r.h323_endpoint(&e.endpoint_id, 1301).await.is_err());
        });
    }
}
