//! "Seen before?" for values that must be used once (CAS tickets, browser
//! login states): bounded whatever the traffic, each insert O(1) amortised,
//! the oldest forgotten first.

use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Values seen within `ttl`, at most `capacity` of them, kept as SHA-256.
#[derive(Debug)]
pub struct SeenOnce {
    capacity: usize,
    ttl: Duration,
    inner: Mutex<Seen>,
}

/// A set for the lookup and a queue, in insertion (so deadline) order, for
/// the eviction.
#[derive(Debug, Default)]
struct Seen {
    by_hash: HashMap<[u8; 32], Instant>,
    order: VecDeque<([u8; 32], Instant)>,
}

impl SeenOnce {
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        SeenOnce {
            capacity: capacity.max(1),
            ttl,
            inner: Mutex::new(Seen::default()),
        }
    }

    /// Remember `value` as used; false if it was already (within the ttl,
    /// and not pushed out by `capacity` newer values since).
    pub fn first_use(&self, value: &str) -> bool {
        let key: [u8; 32] = Sha256::digest(value.as_bytes()).into();
        self.first_use_at(key, Instant::now())
    }

    fn first_use_at(&self, key: [u8; 32], now: Instant) -> bool {
        let mut seen = self.inner.lock();
        while let Some((oldest, until)) = seen.order.front().copied() {
            if until > now && seen.order.len() < self.capacity {
                break;
            }
            seen.order.pop_front();
            if seen.by_hash.get(&oldest) == Some(&until) {
                seen.by_hash.remove(&oldest);
            }
        }
        if seen.by_hash.get(&key).is_some_and(|until| *until > now) {
            return false;
        }
        let until = now + self.ttl;
        seen.by_hash.insert(key, until);
        seen.order.push_back((key, until));
        true
    }

    #[cfg(test)]
    fn len(&self) -> (usize, usize) {
        let seen = self.inner.lock();
        (seen.by_hash.len(), seen.order.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_forgets_the_oldest_first() {
        let ttl = Duration::from_secs(3600);
        let seen = SeenOnce::new(1000, ttl);
        let now = Instant::now();
        let key = |i: u32| {
            let mut k = [0u8; 32];
            k[..4].copy_from_slice(&i.to_be_bytes());
            k
        };
        assert!(seen.first_use_at(key(0), now));
        assert!(!seen.first_use_at(key(0), now), "a replay");
        // A flood of made-up values: the memory stays at the bound, and
        // the newest are still refused when replayed.
        for i in 1..50_000 {
            assert!(seen.first_use_at(key(i), now));
        }
        assert_eq!(seen.len(), (1000, 1000));
        assert!(!seen.first_use_at(key(49_999), now));
        assert!(seen.first_use_at(key(0), now), "the oldest was forgotten");
        // Expired entries go first, whatever the count.
        let later = now + ttl + Duration::from_secs(1);
        assert!(seen.first_use_at(key(49_999), later));
        assert_eq!(seen.len(), (1, 1), "all the rest had expired");
        assert!(seen.first_use("ST-1") && !seen.first_use("ST-1"));
    }
}
