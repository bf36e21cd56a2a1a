//! A listener's pool of backends: who they are, whether they take new
//! flows (health, draining), what they carried, and the scheduler that
//! picks among them. Flows hold an `Arc<Member>` and check its state with
//! one atomic load per packet; every change of membership or state goes
//! through [`Pool`], which keeps the scheduler's view in step.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use crate::metrics::{BackendCounters, Counter};
use crate::scheduler::{Backend, Scheduler};

const UP: u8 = 1;
const DRAINING: u8 = 2;
/// Gone from the configuration; kept while it still carries flows.
const REMOVED: u8 = 4;

/// Member identities, unique in the process.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// One backend of a pool.
pub struct Member {
    /// Unique in the process (flows key on it; addresses can repeat while
    /// a reweighted member's old entry drains).
    pub id: u64,
    pub addr: SocketAddr,
    pub weight: u32,
    state: AtomicU8,
    /// Flows it carries now.
    pub active: Counter,
    pub counters: BackendCounters,
}

impl Member {
    fn new(addr: SocketAddr, weight: u32) -> Member {
        Member {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            addr,
            weight,
            state: AtomicU8::new(UP),
            active: Counter::default(),
            counters: BackendCounters::default(),
        }
    }

    /// Healthy (flows pinned to it stay; a dead one's flows move).
    pub fn is_up(&self) -> bool {
        self.state.load(Ordering::Relaxed) & UP != 0
    }

    pub fn is_draining(&self) -> bool {
        self.state.load(Ordering::Relaxed) & (DRAINING | REMOVED) != 0
    }

    pub fn is_removed(&self) -> bool {
        self.state.load(Ordering::Relaxed) & REMOVED != 0
    }

    fn set(&self, flag: u8, on: bool) -> bool {
        let old = if on {
            self.state.fetch_or(flag, Ordering::Relaxed)
        } else {
            self.state.fetch_and(!flag, Ordering::Relaxed)
        };
        (old & flag != 0) != on
    }

    /// What the admin API shows: `up`, `down`, `draining`.
    pub fn state_name(&self) -> &'static str {
        match (self.is_up(), self.is_draining()) {
            (false, _) => "down",
            (true, true) => "draining",
            (true, false) => "up",
        }
    }
}

/// The members of one listener and its scheduler.
pub struct Pool {
    members: Vec<Arc<Member>>,
    view: Vec<Backend>,
    scheduler: Box<dyn Scheduler>,
}

impl Pool {
    pub fn new(scheduler: Box<dyn Scheduler>, backends: &[(SocketAddr, u32)]) -> Pool {
        let mut pool = Pool {
            members: Vec::new(),
            view: Vec::new(),
            scheduler,
        };
        pool.reconfigure(backends);
        pool
    }

    /// Applies a new member list: members that stay keep their state and
    /// flows; new ones start up; missing ones drain until their last flow
    /// ends. A changed weight takes effect for new flows.
    pub fn reconfigure(&mut self, backends: &[(SocketAddr, u32)]) {
        let mut next: Vec<Arc<Member>> = Vec::with_capacity(backends.len());
        for &(addr, weight) in backends {
            let member = match self.find(addr) {
                Some(m) if m.weight == weight && !m.is_removed() => m,
                Some(m) => {
                    let fresh = Member::new(addr, weight);
                    fresh.state.store(
                        m.state.load(Ordering::Relaxed) & !REMOVED,
                        Ordering::Relaxed,
                    );
                    m.set(REMOVED, true);
                    // The old entry keeps its flows until they end.
                    next.push(m);
                    Arc::new(fresh)
                }
                None => Arc::new(Member::new(addr, weight)),
            };
            next.push(member);
        }
        for m in &self.members {
            if !next.iter().any(|n| Arc::ptr_eq(n, m)) {
                m.set(REMOVED, true);
                next.push(m.clone());
            }
        }
        self.members = next;
        self.refresh();
    }

    /// A member by address: the configured one when an old one still drains.
    pub fn find(&self, addr: SocketAddr) -> Option<Arc<Member>> {
        let mut found = self.members.iter().filter(|m| m.addr == addr);
        let first = found.next()?;
        Some(
            std::iter::once(first)
                .chain(found)
                .find(|m| !m.is_removed())
                .unwrap_or(first)
                .clone(),
        )
    }

    pub fn members(&self) -> &[Arc<Member>] {
        &self.members
    }

    /// The member for a new flow whose key hashes to `key`.
    pub fn pick(&mut self, key: u64) -> Option<Arc<Member>> {
        for (b, m) in self.view.iter_mut().zip(&self.members) {
            b.active = u32::try_from(m.active.get()).unwrap_or(u32::MAX);
        }
        let i = self.scheduler.pick(key, &self.view)?;
        Some(self.members[i].clone())
    }

    /// Health changed; true when that is news.
    pub fn set_up(&mut self, addr: SocketAddr, up: bool) -> bool {
        let changed = self
            .members
            .iter()
            .filter(|m| m.addr == addr)
            .fold(false, |c, m| m.set(UP, up) | c);
        if changed {
            self.refresh();
        }
        changed
    }

    /// Starts or stops draining; false when no such member.
    pub fn set_draining(&mut self, addr: SocketAddr, draining: bool) -> bool {
        let Some(m) = self.find(addr).filter(|m| !m.is_removed()) else {
            return false;
        };
        if m.set(DRAINING, draining) {
            self.refresh();
        }
        true
    }

    /// Forgets removed members that carry nothing any more and rebuilds
    /// the scheduler's view.
    pub fn refresh(&mut self) {
        self.members
            .retain(|m| !(m.is_removed() && m.active.get() == 0));
        self.view = self
            .members
            .iter()
            .map(|m| Backend {
                name: m.addr.to_string(),
                weight: m.weight,
                healthy: m.is_up(),
                draining: m.is_draining(),
                active: 0,
            })
            .collect();
        self.scheduler.update(&self.view);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::by_name;

    fn addr(i: u8) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, i], 5060))
    }

    #[test]
    fn down_and_draining_members_get_no_new_flows() {
        let mut pool = Pool::new(
            by_name("wrr").unwrap(),
            &[(addr(1), 1), (addr(2), 1), (addr(3), 1)],
        );
        pool.set_up(addr(1), false);
        assert!(pool.set_draining(addr(2), true));
        for k in 0..20 {
            assert_eq!(pool.pick(k).unwrap().addr, addr(3));
        }
        pool.set_up(addr(3), false);
        assert!(pool.pick(0).is_none());
        assert!(!pool.set_draining(addr(9), true));
    }

    #[test]
    fn reconfiguring_keeps_members_and_drains_removed_ones() {
        let mut pool = Pool::new(by_name("maglev").unwrap(), &[(addr(1), 1), (addr(2), 1)]);
        let kept = pool.find(addr(1)).unwrap();
        let gone = pool.find(addr(2)).unwrap();
        gone.active.add(1); // a flow still on it
        pool.reconfigure(&[(addr(1), 1), (addr(3), 1)]);
        assert!(Arc::ptr_eq(&kept, &pool.find(addr(1)).unwrap()));
        assert!(gone.is_removed() && gone.is_draining() && gone.is_up());
        assert_eq!(pool.members().len(), 3);
        for k in 0..100 {
            assert_ne!(pool.pick(crate::hash::mix(k)).unwrap().addr, addr(2));
        }
        gone.active.sub(1);
        pool.refresh();
        assert_eq!(pool.members().len(), 2, "forgotten once empty");
    }

    #[test]
    fn reweighting_a_member_keeps_its_health() {
        let mut pool = Pool::new(by_name("wrr").unwrap(), &[(addr(1), 1), (addr(2), 1)]);
        pool.set_up(addr(1), false);
        pool.reconfigure(&[(addr(1), 5), (addr(2), 1)]);
        let m = pool.find(addr(1)).unwrap();
        assert_eq!((m.weight, m.is_up(), m.is_removed()), (5, false, false));
    }
}
