//! A request's deadline: when the Lambda runtime will stop the function. It is set once per
//! request by `crate::serve` (a `tokio::task_local!`, so no signature in between carries it)
//! and read by whatever waits on the network: the Stripe adapter's retry loop, and
//! compensation.
//!
//! The rule: a call may start an attempt only while the time left exceeds the **reserve**,
//! the time kept back for undoing a Stripe change and answering. Compensation itself runs
//! with the reserve released ([`Deadline::for_compensation`]).

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use crate::error::Error;

/// Time kept back for compensation and the answer. Compensation of an attach is at most two
/// Stripe calls (the token's card, then its detach: each about 0.3 s at Stripe's median and
/// under 1.5 s at its tail), and the answer is milliseconds: 3 s covers both at the tail.
pub const RESERVE: Duration = Duration::from_secs(3);

/// The shortest attempt worth starting: a Stripe call rarely answers sooner.
pub const MIN_ATTEMPT: Duration = Duration::from_millis(250);

/// The budget when the runtime gives no usable deadline and `DEADLINE_MS` is unset: the
/// HTTP API's integration limit, after which nobody is waiting for the answer.
pub const FALLBACK_BUDGET: Duration = Duration::from_secs(30);

/// A deadline further away than Lambda's longest timeout (15 min) is not a Lambda's.
const LONGEST_LAMBDA: Duration = Duration::from_secs(15 * 60);

tokio::task_local! {
    static CURRENT: Deadline;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadline {
    at: Instant,
    reserve: Duration,
}

/// The request's deadline left no room for another attempt.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the request's deadline left no time to wait for {waiting_for}")]
pub struct OutOfTime {
    pub waiting_for: String,
    /// Whether an attempt was sent: if not, the call certainly did nothing.
    pub sent: bool,
}

/// A 503: the caller may try again, and nothing was stored (what was done at Stripe has
/// been undone, or is safe to repeat under the same idempotency key).
impl From<OutOfTime> for Error {
    fn from(e: OutOfTime) -> Self {
        Error::Unavailable {
            message: "Stripe did not answer in time; nothing was stored. Try again.".into(),
            source: Some(e.into()),
        }
    }
}

impl Deadline {
    /// A deadline `budget` from now, keeping [`RESERVE`] back.
    pub fn after(budget: Duration) -> Self {
        Self::after_with_reserve(budget, RESERVE)
    }

    pub fn after_with_reserve(budget: Duration, reserve: Duration) -> Self {
        Self {
            at: Instant::now() + budget,
            reserve,
        }
    }

    /// The request's deadline from the Lambda context's (`deadline_ms`, ms since the Unix
    /// epoch), shortened to `cap` when one is set (`DEADLINE_MS`). A context deadline already
    /// past, or further than Lambda allows, is an emulator's placeholder (`cargo lambda
    /// watch` sends a fixed 600000, 1970-01-01T00:10Z): then `cap`, or [`FALLBACK_BUDGET`].
    pub fn from_context_ms(deadline_ms: u64, cap: Option<Duration>, now: SystemTime) -> Self {
        let now_ms = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let left = Duration::from_millis(deadline_ms.saturating_sub(now_ms));
        let from_context = (!left.is_zero() && left <= LONGEST_LAMBDA).then_some(left);
        let budget = match (from_context, cap) {
            (Some(l), Some(c)) => l.min(c),
            (Some(l), None) => l,
            (None, Some(c)) => c,
            (None, None) => FALLBACK_BUDGET,
        };
        Self::after(budget)
    }

    /// Runs `fut` with this deadline as the current one.
    pub async fn scope<F: Future>(self, fut: F) -> F::Output {
        CURRENT.scope(self, fut).await
    }

    /// The current request's deadline; none outside a request (tools, unit tests), where
    /// calls are bounded by their own timeouts alone.
    pub fn current() -> Option<Self> {
        CURRENT.try_with(|d| *d).ok()
    }

    pub fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    pub fn reserve(&self) -> Duration {
        self.reserve
    }

    /// How long the next attempt may wait, given its own timeout `per_attempt`; `None`
    /// when it would eat into the reserve (or leave less than [`MIN_ATTEMPT`]).
    pub fn attempt_timeout(&self, per_attempt: Duration) -> Option<Duration> {
        attempt_timeout(self.remaining(), self.reserve, per_attempt)
    }

    /// Whether waiting `pause` (a retry's backoff) still leaves room for an attempt.
    pub fn allows_pause(&self, pause: Duration, per_attempt: Duration) -> bool {
        attempt_timeout(
            self.remaining().saturating_sub(pause),
            self.reserve,
            per_attempt,
        )
        .is_some()
    }

    /// The deadline compensation runs under: the reserve released, and at least
    /// [`MIN_COMPENSATION`] even when the reserve was already eaten, because an undo tried
    /// late is better than an orphan left for certain.
    pub fn for_compensation(&self) -> Self {
        Self {
            at: self.at.max(Instant::now() + MIN_COMPENSATION),
            reserve: Duration::ZERO,
        }
    }
}

/// The least time compensation is given, deadline or not.
pub const MIN_COMPENSATION: Duration = Duration::from_secs(1);

/// The rule, on plain durations: an attempt gets what is left after the reserve, up to its
/// own timeout; less than [`MIN_ATTEMPT`] (or the attempt's own timeout, if shorter) is not
/// worth starting.
pub fn attempt_timeout(
    remaining: Duration,
    reserve: Duration,
    per_attempt: Duration,
) -> Option<Duration> {
    let usable = remaining.checked_sub(reserve)?;
    if usable < MIN_ATTEMPT.min(per_attempt) {
        return None;
    }
    Some(usable.min(per_attempt))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;
    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn an_attempt_gets_its_own_timeout_while_time_is_plenty() {
        assert_eq!(attempt_timeout(S(20), S(3), S(3)), Some(S(3)));
    }

    #[test]
    fn an_attempt_is_cut_to_what_the_reserve_leaves() {
        assert_eq!(attempt_timeout(S(4), S(3), S(3)), Some(S(1)));
        assert_eq!(attempt_timeout(MS(3250), S(3), S(3)), Some(MIN_ATTEMPT));
    }

    #[test]
    fn no_attempt_eats_into_the_reserve() {
        assert_eq!(attempt_timeout(MS(3249), S(3), S(3)), None);
        assert_eq!(attempt_timeout(S(3), S(3), S(3)), None);
        assert_eq!(attempt_timeout(S(1), S(3), S(3)), None);
        assert_eq!(attempt_timeout(Duration::ZERO, S(3), S(3)), None);
    }

    #[test]
    fn a_short_attempt_timeout_is_its_own_minimum() {
        assert_eq!(attempt_timeout(MS(3100), S(3), MS(100)), Some(MS(100)));
        assert_eq!(attempt_timeout(MS(3099), S(3), MS(100)), None);
    }

    fn at(ms: u64) -> SystemTime {
        UNIX_EPOCH + MS(ms)
    }

    #[tokio::test(start_paused = true)]
    async fn the_context_deadline_is_the_budget() {
        let d = Deadline::from_context_ms(1_000_020_000, None, at(1_000_000_000));
        assert_eq!(d.remaining(), S(20));
        assert_eq!(d.reserve(), RESERVE);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cap_shortens_the_context_deadline_never_lengthens_it() {
        let now = at(1_000_000_000);
        assert_eq!(
            Deadline::from_context_ms(1_000_020_000, Some(S(5)), now).remaining(),
            S(5)
        );
        assert_eq!(
            Deadline::from_context_ms(1_000_020_000, Some(S(60)), now).remaining(),
            S(20)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_emulators_placeholder_deadline_gives_the_cap_or_the_fallback() {
        let now = at(1_764_000_000_000);
        // cargo lambda watch: a fixed 600000 ms, long past.
        assert_eq!(
            Deadline::from_context_ms(600_000, None, now).remaining(),
            FALLBACK_BUDGET
        );
        assert_eq!(
            Deadline::from_context_ms(600_000, Some(S(2)), now).remaining(),
            S(2)
        );
        // Lambda's longest timeout is a Lambda's; further away than any Lambda runs is not.
        let longest = 1_764_000_000_000 + 15 * 60 * 1000;
        assert_eq!(
            Deadline::from_context_ms(longest, None, now).remaining(),
            S(15 * 60)
        );
        let far = 1_764_000_000_000 + 16 * 60 * 1000;
        assert_eq!(
            Deadline::from_context_ms(far, None, now).remaining(),
            FALLBACK_BUDGET
        );
    }

    #[tokio::test(start_paused = true)]
    async fn time_passing_closes_the_window_without_real_sleeping() {
        let d = Deadline::after_with_reserve(S(10), S(3));
        assert_eq!(d.attempt_timeout(S(3)), Some(S(3)));
        tokio::time::advance(S(6)).await;
        assert_eq!(d.attempt_timeout(S(3)), Some(S(1)));
        assert!(!d.allows_pause(MS(800), S(3)));
        assert!(d.allows_pause(MS(700), S(3)));
        tokio::time::advance(S(1)).await;
        assert_eq!(d.attempt_timeout(S(3)), None);
        // Compensation may use the reserve, and gets at least a second even past the end.
        assert_eq!(d.for_compensation().attempt_timeout(S(3)), Some(S(3)));
        tokio::time::advance(S(10)).await;
        assert_eq!(
            d.for_compensation().attempt_timeout(S(3)),
            Some(MIN_COMPENSATION)
        );
    }

    #[tokio::test]
    async fn the_scope_carries_the_deadline_and_nothing_outside_it() {
        assert_eq!(Deadline::current(), None);
        let d = Deadline::after(S(5));
        assert_eq!(
            Deadline::scope(d, async { Deadline::current() }).await,
            Some(d)
        );
        assert_eq!(Deadline::current(), None);
    }
}
