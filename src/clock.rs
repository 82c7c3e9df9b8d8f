//! The one place that reads the time.
//!
//! Everything that depends on time (expiry, renewal, purge) takes a [`Clock`],
//! so that tests move time forward instead of sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// A point in time as microseconds since the Unix epoch (UTC).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub const MICROS_PER_SECOND: i64 = 1_000_000;

    pub fn from_secs(secs: i64) -> Self {
        Timestamp(secs.saturating_mul(Self::MICROS_PER_SECOND))
    }

    pub fn plus_secs(self, secs: u64) -> Self {
        let secs = i64::try_from(secs).unwrap_or(i64::MAX);
        Timestamp(
            self.0
                .saturating_add(secs.saturating_mul(Self::MICROS_PER_SECOND)),
        )
    }

    /// Whole seconds since the epoch (JWT and RFC 7662 `exp`/`iat`).
    pub fn unix_secs(self) -> i64 {
        self.0.div_euclid(Self::MICROS_PER_SECOND)
    }

    /// Seconds since the epoch, with microseconds as the fraction.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / Self::MICROS_PER_SECOND as f64
    }

    /// Seconds from `self` until `later`, rounded up (0 when `later` is not
    /// after): a token issued for 600 s reports 600 right after issue.
    pub fn secs_until(self, later: Timestamp) -> u64 {
        let micros = u64::try_from(later.0.saturating_sub(self.0)).unwrap_or(0);
        micros.div_ceil(Self::MICROS_PER_SECOND.unsigned_abs())
    }

    pub fn to_datetime(self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp_micros(self.0).unwrap_or_default()
    }

    /// ISO 8601 without offset in UTC, as xivo-auth's `utc_*` fields.
    pub fn format_utc(self) -> String {
        self.to_datetime()
            .format("%Y-%m-%dT%H:%M:%S%.6f")
            .to_string()
    }

    /// ISO 8601 without offset in the server's local time zone, as xivo-auth's
    /// `issued_at` and `expires_at`.
    pub fn format_local(self) -> String {
        self.to_datetime()
            .with_timezone(&chrono::Local)
            .format("%Y-%m-%dT%H:%M:%S%.6f")
            .to_string()
    }
}

/// A source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> Timestamp;
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp(chrono::Utc::now().timestamp_micros())
    }
}

/// A clock that only moves when told to: for tests.
#[derive(Debug, Default)]
pub struct ManualClock {
    micros: AtomicI64,
}

impl ManualClock {
    pub fn new(start: Timestamp) -> Arc<Self> {
        Arc::new(ManualClock {
            micros: AtomicI64::new(start.0),
        })
    }

    pub fn advance_secs(&self, secs: i64) {
        self.micros
            .fetch_add(secs * Timestamp::MICROS_PER_SECOND, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.micros.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_format_matches_xivo_auth() {
        let t = Timestamp(1_433_517_418_557_553);
        assert_eq!(t.format_utc(), "2015-06-05T15:16:58.557553");
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(Timestamp::from_secs(100));
        assert_eq!(clock.now(), Timestamp::from_secs(100));
        clock.advance_secs(5);
        assert_eq!(clock.now(), Timestamp::from_secs(105));
        assert_eq!(Timestamp::from_secs(100).secs_until(clock.now()), 5);
        assert_eq!(clock.now().secs_until(Timestamp::from_secs(1)), 0);
    }
}
