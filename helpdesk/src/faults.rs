//! Fault injection, so a "bad release" is a values change: a fraction of
//! API requests answered 500, and added latency.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[derive(Debug)]
pub struct Faults {
    pub error_rate: f64,
    pub latency: Duration,
    state: AtomicU64,
}

impl Faults {
    pub fn new(error_rate: f64, latency_ms: u64) -> Result<Self, String> {
        if !(0.0..=1.0).contains(&error_rate) {
            return Err(format!("error rate {error_rate} is outside 0..=1"));
        }
        let seed = jiff::Timestamp::now().as_nanosecond() as u64 | 1;
        Ok(Self {
            error_rate,
            latency: Duration::from_millis(latency_ms),
            state: AtomicU64::new(seed),
        })
    }

    /// Whether this request is one of the failed fraction. xorshift64* is
    /// plenty for spreading failures evenly; no cryptography involved.
    pub fn should_fail(&self) -> bool {
        if self.error_rate <= 0.0 {
            return false;
        }
        let mut x = self.state.load(Ordering::Relaxed);
        loop {
            let mut next = x;
            next ^= next >> 12;
            next ^= next << 25;
            next ^= next >> 27;
            match self
                .state
                .compare_exchange_weak(x, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => {
                    let sample = (next.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64
                        / (1u64 << 53) as f64;
                    return sample < self.error_rate;
                }
                Err(current) => x = current,
            }
        }
    }
}
