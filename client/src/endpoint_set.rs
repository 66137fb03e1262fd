//! [`EndpointSet`]: the addresses a request without a known leader may go to, with a short
//! memory of which ones just failed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering;
use std::time::Duration;
use std::time::Instant;

/// How long an address that failed at the transport level is skipped.
pub(crate) const DOWN_FOR: Duration = Duration::from_secs(1);

/// The configured endpoints first, then node addresses learned from `ClusterStatus`. `pick`
/// rotates over them, skipping addresses that recently failed unless every one did.
#[derive(Debug)]
pub(crate) struct EndpointSet {
    next: AtomicUsize,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    addrs: Vec<String>,
    down_until: HashMap<String, Instant>,
}

impl EndpointSet {
    /// `seeds` must not be empty (the builder checks).
    pub fn new(seeds: Vec<String>) -> Self {
        EndpointSet {
            next: AtomicUsize::new(0),
            inner: Mutex::new(Inner {
                addrs: seeds,
                down_until: HashMap::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Poisoning cannot leave `Inner` inconsistent (each update is a single insert/remove).
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next address to try, round robin; addresses marked down are skipped unless all are.
    pub fn pick(&self) -> String {
        self.pick_at(Instant::now())
    }

    fn pick_at(&self, now: Instant) -> String {
        let inner = self.lock();
        let n = inner.addrs.len().max(1);
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let healthy = (0..n)
            .map(|i| &inner.addrs[(start + i) % n])
            .find(|a| inner.down_until.get(*a).is_none_or(|until| *until <= now));
        match healthy {
            Some(a) => a.clone(),
            None => inner.addrs.get(start % n).cloned().unwrap_or_default(),
        }
    }

    /// Adds addresses learned from the cluster (no duplicates).
    pub fn learn<'a>(&self, addrs: impl IntoIterator<Item = &'a str>) {
        let mut inner = self.lock();
        for a in addrs {
            if !a.is_empty() && !inner.addrs.iter().any(|x| x == a) {
                inner.addrs.push(a.to_string());
            }
        }
    }

    /// Skips `addr` for [`DOWN_FOR`].
    pub fn mark_down(&self, addr: &str) {
        self.lock()
            .down_until
            .insert(addr.to_string(), Instant::now() + DOWN_FOR);
    }

    /// `addr` answered: stop skipping it.
    pub fn mark_up(&self, addr: &str) {
        let mut inner = self.lock();
        if !inner.down_until.is_empty() {
            inner.down_until.remove(addr);
        }
    }

    pub fn is_down(&self, addr: &str) -> bool {
        self.lock()
            .down_until
            .get(addr)
            .is_some_and(|until| *until > Instant::now())
    }

    pub fn len(&self) -> usize {
        self.lock().addrs.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_and_skips_down_addresses_until_all_are_down() {
        let set = EndpointSet::new(vec!["a:1".into(), "b:1".into(), "c:1".into()]);
        let picks: Vec<String> = (0..3).map(|_| set.pick()).collect();
        assert_eq!(picks, ["a:1", "b:1", "c:1"]);
        set.mark_down("b:1");
        for _ in 0..6 {
            assert_ne!(set.pick(), "b:1");
        }
        assert!(set.is_down("b:1"));
        set.mark_up("b:1");
        assert!(!set.is_down("b:1"));
        set.mark_down("a:1");
        set.mark_down("b:1");
        set.mark_down("c:1");
        assert!(
            !set.pick().is_empty(),
            "all down: still returns some address"
        );
        assert!(set.pick_at(Instant::now() + DOWN_FOR * 2).ends_with(":1"));
    }

    #[test]
    fn learns_new_addresses_once() {
        let set = EndpointSet::new(vec!["a:1".into()]);
        set.learn(["a:1", "b:1", "b:1", ""]);
        assert_eq!(set.len(), 2);
    }
}
