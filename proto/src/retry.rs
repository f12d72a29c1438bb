//! How agents, the collector and other clients retry: which answers are final, and
//! exponential delays with jitter, so that the agents of a fleet do not all retry in
//! step after an outage.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};

/// Whether the collector's answer `code` is final for the request that got it: the
/// collector answers these for a request that would fail the same way again (bad input,
/// a limit, a missing or refused token), so a client reports the failure instead of
/// retrying. Every other code (UNAVAILABLE while it stops, ABORTED for a superseded
/// session, INTERNAL, a deadline, a broken connection) is worth a retry after a backoff.
pub fn is_final(code: tonic::Code) -> bool {
    use tonic::Code;
    matches!(
        code,
        Code::InvalidArgument
            | Code::FailedPrecondition
            | Code::ResourceExhausted
            | Code::PermissionDenied
            | Code::Unauthenticated
    )
}

/// Exponential backoff from `first`, doubling up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Wait after the first failure.
    pub first: Duration,
    /// Longest wait before jitter.
    pub max: Duration,
}

impl Backoff {
    pub fn new(first: Duration, max: Duration) -> Self {
        Backoff {
            first,
            max: max.max(first),
        }
    }

    /// The wait after `failures` consecutive failures (0: the first), without jitter:
    /// for retry times that are stored and must be the same when read back.
    pub fn after(self, failures: u32) -> Duration {
        let factor = 2u32.saturating_pow(failures.min(20));
        self.first.saturating_mul(factor).min(self.max)
    }

    /// Successive waits with jitter: each wait is its exponential delay plus a random part
    /// of up to that delay again. Restart with [`Retries::reset`] after a success.
    pub fn retries(self) -> Retries {
        Retries {
            builder: self.builder(),
            delays: self.builder().build(),
            policy: self,
        }
    }

    fn builder(self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.first)
            .with_max_delay(self.max)
            .with_jitter()
            .without_max_times()
    }
}

/// The waits of one run of failures, from [`Backoff::retries`].
#[derive(Debug)]
pub struct Retries {
    policy: Backoff,
    builder: ExponentialBuilder,
    delays: ExponentialBackoff,
}

impl Retries {
    /// The wait before the next try.
    pub fn next_delay(&mut self) -> Duration {
        self.delays.next().unwrap_or(self.policy.max)
    }

    /// After a success: the next failure waits the shortest time again.
    pub fn reset(&mut self) {
        self.delays = self.builder.build();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_waits_double_up_to_the_maximum() {
        let backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let waits: Vec<u64> = (0..8).map(|n| backoff.after(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(backoff.after(u32::MAX), Duration::from_secs(60));
    }

    #[test]
    fn retries_double_with_jitter_up_to_the_maximum_and_restart_after_reset() {
        let mut retries =
            Backoff::new(Duration::from_millis(100), Duration::from_millis(400)).retries();
        for base in [100, 200, 400, 400, 400] {
            let base = Duration::from_millis(base);
            let delay = retries.next_delay();
            assert!(delay >= base && delay < base * 2, "{delay:?} for {base:?}");
        }
        retries.reset();
        assert!(retries.next_delay() < Duration::from_millis(200));
    }

    #[test]
    fn retries_stay_below_twice_the_maximum() {
        let (first, max) = (Duration::from_millis(100), Duration::from_secs(2));
        let mut retries = Backoff::new(first, max).retries();
        let delays: Vec<Duration> = (0..10).map(|_| retries.next_delay()).collect();
        assert!(delays.iter().all(|d| *d < max * 2), "{delays:?}");
        assert!(delays[9] >= max, "{delays:?}");
    }
}
