//! Points in time as the store keeps them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The current time.
    pub fn now() -> Self {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        Self(i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX))
    }

    /// From milliseconds since the epoch.
    pub const fn from_unix_millis(millis: i64) -> Self {
        Self(millis)
    }

    /// Milliseconds since the epoch.
    pub const fn unix_millis(self) -> i64 {
        self.0
    }

    /// `self + duration`, saturating.
    pub fn saturating_add(self, duration: Duration) -> Self {
        Self(self.0.saturating_add(millis(duration)))
    }

    /// `self - duration`, saturating.
    pub fn saturating_sub(self, duration: Duration) -> Self {
        Self(self.0.saturating_sub(millis(duration)))
    }

    /// As a system time (the epoch for times before it).
    pub fn to_system_time(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(u64::try_from(self.0).unwrap_or(0))
    }

    /// As a protobuf timestamp.
    pub fn to_proto(self) -> prost_types::Timestamp {
        prost_types::Timestamp {
            seconds: self.0.div_euclid(1000),
            // Always in 0..1e9, so the cast cannot truncate.
            nanos: (self.0.rem_euclid(1000) * 1_000_000) as i32,
        }
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proto_timestamp_keeps_milliseconds_before_and_after_the_epoch() {
        let after = Timestamp::from_unix_millis(1_700_000_000_123).to_proto();
        assert_eq!((after.seconds, after.nanos), (1_700_000_000, 123_000_000));
        let before = Timestamp::from_unix_millis(-1).to_proto();
        assert_eq!((before.seconds, before.nanos), (-1, 999_000_000));
    }

    #[test]
    fn arithmetic_saturates_instead_of_overflowing() {
        let late = Timestamp::from_unix_millis(i64::MAX - 1);
        assert_eq!(
            late.saturating_add(Duration::from_secs(1)).unix_millis(),
            i64::MAX
        );
        let early = Timestamp::from_unix_millis(i64::MIN + 1);
        assert_eq!(
            early.saturating_sub(Duration::from_secs(1)).unix_millis(),
            i64::MIN
        );
    }
}
