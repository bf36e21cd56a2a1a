//! Flood control: a token bucket per source address for new flows (UDP
//! flows, Call-ID entries, TCP connections). The bucket table is itself
//! bounded; an idle source's bucket is full again anyway, so forgetting it
//! loses nothing.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::lru::IdleLru;

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Allows each source `rate` new flows per second with bursts of `burst`.
pub struct NewFlowLimiter {
    rate: f64,
    burst: f64,
    buckets: IdleLru<IpAddr, Bucket>,
}

impl NewFlowLimiter {
    /// `rate` 0 means unlimited.
    pub fn new(rate: u32, burst: u32, sources: usize) -> NewFlowLimiter {
        let rate = f64::from(rate);
        let burst = f64::from(burst.max(1));
        // A bucket left alone this long has refilled completely.
        let idle = Duration::from_secs_f64(if rate > 0.0 { burst / rate + 1.0 } else { 1.0 });
        NewFlowLimiter {
            rate,
            burst,
            buckets: IdleLru::new(sources, idle),
        }
    }

    /// Whether `source` may open one more flow at `now` (and takes a token).
    pub fn allow(&mut self, source: IpAddr, now: Instant) -> bool {
        if self.rate <= 0.0 {
            return true;
        }
        let (rate, burst) = (self.rate, self.burst);
        let bucket = match self.buckets.touch(&source, now) {
            Some(b) => b,
            None => {
                self.buckets.insert(
                    source,
                    Bucket {
                        tokens: burst,
                        at: now,
                    },
                    now,
                );
                self.buckets.touch(&source, now).expect("just inserted")
            }
        };
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_rate_per_source() {
        let t0 = Instant::now();
        let mut l = NewFlowLimiter::new(10, 5, 100);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let allowed = (0..20).filter(|_| l.allow(a, t0)).count();
        assert_eq!(allowed, 5, "the burst");
        assert!(l.allow(b, t0), "another source is not affected");
        assert!(!l.allow(a, t0 + Duration::from_millis(50)));
        assert!(
            l.allow(a, t0 + Duration::from_millis(100)),
            "one token per 100 ms"
        );
        let later = t0 + Duration::from_secs(10);
        assert_eq!(
            (0..20).filter(|_| l.allow(a, later)).count(),
            5,
            "refilled to the burst only"
        );
    }

    #[test]
    fn zero_rate_is_unlimited() {
        let mut l = NewFlowLimiter::new(0, 0, 1);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        assert!((0..1000).all(|_| l.allow(a, Instant::now())));
    }
}
