//! Medians of timed samples: robust against the odd slow iteration on a shared machine.

use std::time::{Duration, Instant};

/// Timed iterations of one operation.
#[derive(Debug, Clone, Default)]
pub struct Sample(Vec<Duration>);

impl Sample {
    pub fn push(&mut self, d: Duration) {
        self.0.push(d);
    }

    /// Times one run of `f` and keeps it.
    pub async fn time<T>(&mut self, f: impl AsyncFnOnce() -> T) -> T {
        let start = Instant::now();
        let out = f().await;
        self.push(start.elapsed());
        out
    }

    pub fn quantile(&self, q: f64) -> Duration {
        let mut sorted = self.0.clone();
        sorted.sort_unstable();
        match sorted.len() {
            0 => Duration::ZERO,
            n => sorted[((n - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize],
        }
    }

    pub fn median(&self) -> Duration {
        self.quantile(0.5)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A duration the way the table shows it: µs below a millisecond, ms above.
pub fn shown(d: Duration) -> String {
    if d < Duration::from_millis(1) {
        format!("{:.1} µs", d.as_secs_f64() * 1e6)
    } else if d < Duration::from_secs(1) {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

/// `a ÷ b` on medians.
pub fn ratio(a: &Sample, b: &Sample) -> f64 {
    a.median().as_secs_f64() / b.median().as_secs_f64().max(1e-12)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_ignores_one_outlier() {
        let mut s = Sample::default();
        for us in [10, 11, 12, 10_000, 9] {
            s.push(Duration::from_micros(us));
        }
        assert_eq!(s.median(), Duration::from_micros(11));
        assert_eq!(s.quantile(1.0), Duration::from_millis(10));
        assert_eq!(shown(Duration::from_micros(11)), "11.0 µs");
        assert_eq!(shown(Duration::from_millis(1500)), "1.50 s");
    }
}
