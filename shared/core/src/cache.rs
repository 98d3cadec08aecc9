//! A tiny per-container cache with a time-to-live, for lookups a warm Lambda repeats
//! (API keys, tenant settings).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct TtlCache<K, V> {
    ttl: Duration,
    /// Live entries beyond this are not added (a cache of what callers name, such as
    /// misses, must not grow with what an attacker sends).
    max: usize,
    entries: Mutex<HashMap<K, (V, Instant)>>,
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    pub fn new(ttl: Duration) -> Self {
        Self::bounded(ttl, usize::MAX)
    }

    pub fn bounded(ttl: Duration, max: usize) -> Self {
        Self {
            ttl,
            max,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock().ok()?;
        let (value, at) = entries.get(key)?;
        (at.elapsed() < self.ttl).then(|| value.clone())
    }

    pub fn remove(&self, key: &K) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(key);
        }
    }

    pub fn insert(&self, key: K, value: V) {
        self.insert_at(key, value, Instant::now());
    }

    fn insert_at(&self, key: K, value: V, at: Instant) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|_, (_, t)| t.elapsed() < self.ttl);
            if entries.len() < self.max || entries.contains_key(&key) {
                entries.insert(key, (value, at));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire() {
        let cache = TtlCache::new(Duration::from_secs(30));
        cache.insert("fresh", 1);
        assert_eq!(cache.get(&"fresh"), Some(1));
        cache.insert_at("stale", 2, Instant::now() - Duration::from_secs(31));
        assert_eq!(cache.get(&"stale"), None);
        assert_eq!(cache.get(&"absent"), None);
    }

    #[test]
    fn a_bounded_cache_stops_adding_when_full() {
        let cache = TtlCache::bounded(Duration::from_secs(30), 2);
        cache.insert("a", 1);
        cache.insert("b", 2);
        cache.insert("c", 3);
        assert_eq!(cache.get(&"c"), None);
        cache.insert("a", 4);
        assert_eq!(cache.get(&"a"), Some(4));
        assert_eq!(cache.get(&"b"), Some(2));
    }
}
