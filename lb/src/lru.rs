//! A bounded map whose entries also expire after an idle time: the flow and
//! affinity tables. Least-recently-used order is kept in an intrusive list
//! over a slab, so touching, inserting, evicting and expiring are O(1) and
//! allocate nothing once the slab has grown; since the order is also the
//! order of last use, idle entries are always at the tail.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

const NIL: usize = usize::MAX;

struct Slot<K, V> {
    entry: Option<(K, V)>,
    seen: Instant,
    /// Towards the most recently used end.
    newer: usize,
    /// Towards the least recently used end.
    older: usize,
}

/// Entries idle longer than `idle` are gone; at most `capacity` are kept
/// (inserting into a full table evicts the least recently used).
pub struct IdleLru<K, V> {
    index: HashMap<K, usize>,
    slots: Vec<Slot<K, V>>,
    free: Vec<usize>,
    newest: usize,
    oldest: usize,
    capacity: usize,
    idle: Duration,
}

impl<K: Hash + Eq + Clone, V> IdleLru<K, V> {
    pub fn new(capacity: usize, idle: Duration) -> Self {
        IdleLru {
            index: HashMap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            newest: NIL,
            oldest: NIL,
            capacity: capacity.max(1),
            idle,
        }
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    pub fn idle(&self) -> Duration {
        self.idle
    }

    /// The live entry for `key`, marked used at `now`; an entry idle too
    /// long is removed instead.
    pub fn touch(&mut self, key: &K, now: Instant) -> Option<&mut V> {
        let i = *self.index.get(key)?;
        if now.saturating_duration_since(self.slots[i].seen) >= self.idle {
            self.remove(key);
            return None;
        }
        self.unlink(i);
        self.link_newest(i);
        self.slots[i].seen = now;
        self.slots[i].entry.as_mut().map(|(_, v)| v)
    }

    /// The entry for `key` without marking it used.
    pub fn peek(&self, key: &K) -> Option<&V> {
        let i = *self.index.get(key)?;
        self.slots[i].entry.as_ref().map(|(_, v)| v)
    }

    /// Inserts or replaces; returns the entry evicted to make room.
    pub fn insert(&mut self, key: K, value: V, now: Instant) -> Option<(K, V)> {
        if let Some(&i) = self.index.get(&key) {
            self.unlink(i);
            self.link_newest(i);
            let slot = &mut self.slots[i];
            slot.seen = now;
            slot.entry = Some((key, value));
            return None;
        }
        let evicted = (self.index.len() >= self.capacity)
            .then(|| self.pop_oldest())
            .flatten();
        let slot = Slot {
            entry: Some((key.clone(), value)),
            seen: now,
            newer: NIL,
            older: NIL,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.slots[i] = slot;
                i
            }
            None => {
                self.slots.push(slot);
                self.slots.len() - 1
            }
        };
        self.link_newest(i);
        self.index.insert(key, i);
        evicted
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        let i = self.index.remove(key)?;
        self.release(i).map(|(_, v)| v)
    }

    /// Removes every entry idle at `now`, oldest first, handing each to `gone`.
    pub fn expire(&mut self, now: Instant, mut gone: impl FnMut(K, V)) {
        while self.oldest != NIL
            && now.saturating_duration_since(self.slots[self.oldest].seen) >= self.idle
        {
            if let Some((k, v)) = self.pop_oldest() {
                gone(k, v);
            }
        }
    }

    /// Removes every entry `keep` says no to.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &V) -> bool) {
        let doomed: Vec<K> = self
            .slots
            .iter()
            .filter_map(|s| s.entry.as_ref())
            .filter(|(k, v)| !keep(k, v))
            .map(|(k, _)| k.clone())
            .collect();
        for k in doomed {
            self.remove(&k);
        }
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.slots
            .iter()
            .filter_map(|s| s.entry.as_ref().map(|(_, v)| v))
    }

    fn pop_oldest(&mut self) -> Option<(K, V)> {
        let i = self.oldest;
        if i == NIL {
            return None;
        }
        let (k, v) = self.release(i)?;
        self.index.remove(&k);
        Some((k, v))
    }

    fn release(&mut self, i: usize) -> Option<(K, V)> {
        self.unlink(i);
        self.free.push(i);
        self.slots[i].entry.take()
    }

    fn unlink(&mut self, i: usize) {
        let (newer, older) = (self.slots[i].newer, self.slots[i].older);
        match newer {
            NIL => self.newest = older,
            n => self.slots[n].older = older,
        }
        match older {
            NIL => self.oldest = newer,
            o => self.slots[o].newer = newer,
        }
        self.slots[i].newer = NIL;
        self.slots[i].older = NIL;
    }

    fn link_newest(&mut self, i: usize) {
        self.slots[i].older = self.newest;
        self.slots[i].newer = NIL;
        match self.newest {
            NIL => self.oldest = i,
            n => self.slots[n].newer = i,
        }
        self.newest = i;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn entries_idle_out_unless_touched() {
        let t0 = Instant::now();
        let mut t = IdleLru::new(10, secs(30));
        t.insert("a", 1, t0);
        t.insert("b", 2, t0);
        assert_eq!(t.touch(&"a", t0 + secs(20)), Some(&mut 1));
        let mut gone = Vec::new();
        t.expire(t0 + secs(30), |k, _| gone.push(k));
        assert_eq!(gone, ["b"]);
        assert_eq!(t.touch(&"a", t0 + secs(49)), Some(&mut 1));
        assert_eq!(t.touch(&"a", t0 + secs(79)), None, "idle 30 s");
        assert!(t.is_empty());
    }

    #[test]
    fn full_table_evicts_least_recently_used() {
        let t0 = Instant::now();
        let mut t = IdleLru::new(3, secs(60));
        for (i, k) in ["a", "b", "c"].into_iter().enumerate() {
            assert_eq!(t.insert(k, i, t0 + secs(i as u64)), None);
        }
        t.touch(&"a", t0 + secs(5));
        assert_eq!(t.insert("d", 3, t0 + secs(6)), Some(("b", 1)));
        assert_eq!(t.insert("e", 4, t0 + secs(7)), Some(("c", 2)));
        assert_eq!(t.len(), 3);
        assert_eq!(t.peek(&"a"), Some(&0));
        // Slots are reused: no growth past capacity.
        assert_eq!(t.slots.len(), 3);
    }

    #[test]
    fn remove_and_retain_keep_the_order_consistent() {
        let t0 = Instant::now();
        let mut t = IdleLru::new(10, secs(10));
        for i in 0..6u64 {
            t.insert(i, i, t0 + secs(i));
        }
        assert_eq!(t.remove(&3), Some(3));
        t.retain(|_, v| v % 2 == 0);
        assert_eq!(t.values().count(), 3);
        let mut gone = Vec::new();
        t.expire(t0 + secs(13), |k, _| gone.push(k));
        assert_eq!(gone, [0, 2], "oldest first; 4 is still fresh");
        assert_eq!(t.len(), 1);
    }
}
