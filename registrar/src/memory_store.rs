//! An in-memory [`RegistrarStore`] for the registrar's tests.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::{Account, Binding, RegistrarStore, StoreFuture};

#[derive(Default)]
pub struct MemoryStore {
    pub accounts: HashMap<String, Account>,
    pub bindings: Mutex<HashMap<String, Vec<Binding>>>,
}

impl RegistrarStore for MemoryStore {
    fn account(&self, user: &str) -> StoreFuture<'_, Option<Account>> {
        let a = self.accounts.get(user).cloned();
        Box::pin(async move { Ok(a) })
    }
    fn bindings(&self, user: &str) -> StoreFuture<'_, Vec<Binding>> {
        let b = self
            .bindings
            .lock()
            .unwrap()
            .get(user)
            .cloned()
            .unwrap_or_default();
        Box::pin(async move { Ok(b) })
    }
    fn live_bindings(&self, now: u64) -> StoreFuture<'_, Vec<Binding>> {
        let all: Vec<Binding> = self
            .bindings
            .lock()
            .unwrap()
            .values()
            .flatten()
            .cloned()
            .collect();
        Box::pin(async move { Ok(all.into_iter().filter(|b| b.expires_at > now).collect()) })
    }
    fn set_reachable<'a>(&'a self, _: &'a str, _: &'a str, _: bool, _: u64) -> StoreFuture<'a, ()> {
        Box::pin(async move { Ok(()) })
    }
    fn replace_bindings<'a>(
        &'a self,
        user: &'a str,
        bindings: &'a [Binding],
    ) -> StoreFuture<'a, ()> {
        self.bindings
            .lock()
            .unwrap()
            .insert(user.to_owned(), bindings.to_vec());
        Box::pin(async move { Ok(()) })
    }
}

/// Runs a registrar future over the in-memory store to its end.
pub fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    // The in-memory store never suspends: one poll finishes.
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("in-memory store suspended"),
    }
}
