//! The flow table's storage: values in reusable slots, found by key, kept in
//! least-recently-seen order so the oldest can be evicted or aged out.
//! Knows nothing of TCP or flows.

use rustc_hash::FxHashMap;
use std::hash::Hash;

/// Slot index; stable while the value lives.
pub(super) type Slot = u32;

const NIL: Slot = Slot::MAX;

struct Entry<V> {
    value: V,
    /// Least-recently-seen list links (NIL at the ends).
    newer: Slot,
    older: Slot,
}

/// Bytes one stored value costs besides the value itself: its slot and its
/// index entry.
pub(super) const fn overhead<K, V>() -> usize {
    std::mem::size_of::<Option<Entry<V>>>() - std::mem::size_of::<V>() + std::mem::size_of::<(K, Slot)>()
}

pub(super) struct LruSlots<K, V> {
    map: FxHashMap<K, Slot>,
    slots: Vec<Option<Entry<V>>>,
    free: Vec<Slot>,
    newest: Slot,
    oldest: Slot,
}

impl<K: Hash + Eq + Copy, V> LruSlots<K, V> {
    pub(super) fn new() -> Self {
        LruSlots { map: FxHashMap::default(), slots: Vec::new(), free: Vec::new(), newest: NIL, oldest: NIL }
    }

    pub(super) fn len(&self) -> usize {
        self.map.len()
    }

    pub(super) fn find(&self, key: &K) -> Option<Slot> {
        self.map.get(key).copied()
    }

    pub(super) fn get(&self, s: Slot) -> Option<&V> {
        self.slots.get(s as usize)?.as_ref().map(|e| &e.value)
    }

    pub(super) fn get_mut(&mut self, s: Slot) -> Option<&mut V> {
        self.slots.get_mut(s as usize)?.as_mut().map(|e| &mut e.value)
    }

    /// The least recently seen value's slot.
    pub(super) fn oldest(&self) -> Option<Slot> {
        (self.oldest != NIL).then_some(self.oldest)
    }

    /// Stores `value` under `key` as the newest.
    pub(super) fn insert(&mut self, key: K, value: V) -> Slot {
        let entry = Some(Entry { value, newer: NIL, older: NIL });
        let s = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = entry;
                s
            }
            None => {
                self.slots.push(entry);
                (self.slots.len() - 1) as Slot
            }
        };
        self.map.insert(key, s);
        self.touch(s);
        s
    }

    /// Takes the value out of slot `s`, stored under `key`.
    pub(super) fn remove(&mut self, s: Slot, key: &K) -> Option<V> {
        self.unlink(s);
        let entry = self.slots.get_mut(s as usize)?.take()?;
        self.free.push(s);
        self.map.remove(key);
        Some(entry.value)
    }

    /// Marks slot `s` as the most recently seen.
    pub(super) fn touch(&mut self, s: Slot) {
        if self.newest == s {
            return;
        }
        self.unlink(s);
        let old_newest = self.newest;
        if let Some(e) = self.slots[s as usize].as_mut() {
            e.older = old_newest;
            e.newer = NIL;
        }
        if old_newest != NIL {
            if let Some(e) = self.slots[old_newest as usize].as_mut() {
                e.newer = s;
            }
        }
        self.newest = s;
        if self.oldest == NIL {
            self.oldest = s;
        }
    }

    fn unlink(&mut self, s: Slot) {
        let Some(e) = self.slots[s as usize].as_mut() else {
            return;
        };
        let (newer, older) = (e.newer, e.older);
        e.newer = NIL;
        e.older = NIL;
        let linked = newer != NIL || older != NIL || self.newest == s;
        if !linked {
            return;
        }
        match newer {
            NIL => self.newest = older,
            n => {
                if let Some(e) = self.slots[n as usize].as_mut() {
                    e.older = older;
                }
            }
        }
        match older {
            NIL => self.oldest = newer,
            o => {
                if let Some(e) = self.slots[o as usize].as_mut() {
                    e.newer = newer;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oldest_first_and_slots_reused() {
        let mut t: LruSlots<u32, &str> = LruSlots::new();
        let a = t.insert(1, "a");
        let b = t.insert(2, "b");
        let c = t.insert(3, "c");
        assert_eq!(t.oldest(), Some(a));
        t.touch(a);
        assert_eq!(t.oldest(), Some(b));
        assert_eq!(t.remove(b, &2), Some("b"));
        assert_eq!(t.oldest(), Some(c));
        assert_eq!(t.find(&2), None);
        let d = t.insert(4, "d");
        assert_eq!(d, b, "a freed slot is reused");
        assert_eq!(t.len(), 3);
        // Age order now: c, a, d.
        for (s, k, v) in [(c, 3, "c"), (a, 1, "a"), (d, 4, "d")] {
            assert_eq!(t.oldest(), Some(s));
            assert_eq!(t.get(s), Some(&v));
            assert_eq!(t.remove(s, &k), Some(v));
        }
        assert_eq!(t.oldest(), None);
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn removing_the_only_value_empties_the_list() {
        let mut t: LruSlots<u32, u8> = LruSlots::new();
        let a = t.insert(7, 0);
        t.touch(a);
        assert_eq!(t.remove(a, &7), Some(0));
        assert_eq!(t.remove(a, &7), None);
        assert_eq!(t.oldest(), None);
    }
}
