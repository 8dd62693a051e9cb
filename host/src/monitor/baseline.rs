//! A rolling baseline per series, for anomaly detection: its centre an exponentially
//! weighted moving average (from the warm-up's median on), its spread the median absolute deviation of recent values
//! (robust: one wild cycle moves neither much). After a warm-up, a value outside the
//! band is an anomaly and does not teach the baseline, so a lasting fault stays
//! anomalous; a level that stays changed for `relearn_after` cycles is the new normal,
//! learnt again from a fresh warm-up.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// How a baseline learns and how wide its band is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Learning {
    /// Weight of the newest value in the moving average (0 < alpha ≤ 1).
    pub alpha: f64,
    /// Half-width of the band in scaled median absolute deviations.
    pub k: f64,
    /// Values learnt before any is judged.
    pub warmup: usize,
    /// The band is never narrower (each side) than this, in the series' unit...
    pub min_spread: f64,
    /// ...nor than this fraction of the centre.
    pub min_ratio: f64,
    /// Consecutive anomalies after which the baseline starts learning again.
    pub relearn_after: usize,
}

/// Recent values kept for the deviation.
const WINDOW: usize = 30;
/// The median absolute deviation of a normal distribution, in standard deviations.
const MAD_SCALE: f64 = 1.4826;

/// Where a value is expected to fall.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Band {
    pub low: f64,
    pub high: f64,
}

impl Band {
    fn holds(&self, value: f64) -> bool {
        (self.low..=self.high).contains(&value)
    }
}

/// What one value was, judged against the baseline before it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// Still learning: `seen` of the warm-up's values so far.
    WarmingUp {
        seen: usize,
    },
    Normal(Band),
    Anomalous(Band),
    /// Not a number: neither judged nor learnt.
    Ignored,
}

#[derive(Debug, Clone)]
pub struct Baseline {
    learning: Learning,
    centre: Option<f64>,
    recent: VecDeque<f64>,
    learnt: usize,
    anomalous_run: usize,
}

impl Baseline {
    pub fn new(learning: Learning) -> Self {
        Self {
            learning,
            centre: None,
            recent: VecDeque::with_capacity(WINDOW),
            learnt: 0,
            anomalous_run: 0,
        }
    }

    /// Judges `value` against what was learnt so far, then learns it unless anomalous.
    /// A value that is not a number is neither judged nor learnt.
    pub fn observe(&mut self, value: f64) -> Verdict {
        if !value.is_finite() {
            return Verdict::Ignored;
        }
        if self.learnt < self.learning.warmup {
            self.learn(value);
            return Verdict::WarmingUp { seen: self.learnt };
        }
        let band = self.band();
        if band.holds(value) {
            self.anomalous_run = 0;
            self.learn(value);
            return Verdict::Normal(band);
        }
        self.anomalous_run += 1;
        if self.anomalous_run >= self.learning.relearn_after.max(1) {
            *self = Self::new(self.learning);
        }
        Verdict::Anomalous(band)
    }

    /// The band the next value is judged against (empty before anything is learnt).
    pub fn band(&self) -> Band {
        let Some(centre) = self.centre else {
            return Band {
                low: f64::NAN,
                high: f64::NAN,
            };
        };
        let spread = (self.learning.k * MAD_SCALE * mad(&self.recent))
            .max(self.learning.min_spread)
            .max(self.learning.min_ratio * centre.abs());
        Band {
            low: centre - spread,
            high: centre + spread,
        }
    }

    fn learn(&mut self, value: f64) {
        if self.recent.len() == WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(value);
        self.learnt += 1;
        // The warm-up's centre is its median, so one wild value in it does not carry
        // over; from then on the moving average follows what is learnt.
        let a = self.learning.alpha.clamp(f64::EPSILON, 1.0);
        self.centre = Some(match self.centre {
            Some(c) if self.learnt > self.learning.warmup => a * value + (1.0 - a) * c,
            _ => median(&mut self.recent.iter().copied().collect::<Vec<_>>()),
        });
    }
}

/// The median (0 of nothing); sorts `values`.
pub(super) fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    crate::report::regression::median(values)
}

/// The median absolute deviation from the median.
fn mad(values: &VecDeque<f64>) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().collect();
    let m = median(&mut v);
    let mut deviations: Vec<f64> = v.iter().map(|x| (x - m).abs()).collect();
    median(&mut deviations)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn learning() -> Learning {
        Learning {
            alpha: 0.3,
            k: 5.0,
            warmup: 5,
            min_spread: 2.0,
            min_ratio: 0.2,
            relearn_after: 4,
        }
    }

    #[test]
    fn nothing_is_judged_during_the_warm_up() {
        let mut b = Baseline::new(learning());
        for (i, v) in [10.0, 500.0, 11.0, 9.0, 10.0].into_iter().enumerate() {
            assert_eq!(b.observe(v), Verdict::WarmingUp { seen: i + 1 });
        }
        assert!(matches!(b.observe(10.5), Verdict::Normal(_)));
    }

    #[test]
    fn a_jump_is_anomalous_with_the_band_it_left_and_is_not_learnt() {
        let mut b = Baseline::new(learning());
        for v in [10.0, 11.0, 9.0, 10.0, 10.5, 9.5, 10.0] {
            b.observe(v);
        }
        let before = b.band();
        let Verdict::Anomalous(band) = b.observe(300.0) else {
            panic!("300 against about 10 is anomalous");
        };
        assert_eq!(band, before);
        assert!(
            band.low < 10.0 && band.high > 10.0 && band.high < 20.0,
            "{band:?}"
        );
        // Not learnt: the band is the same, and a normal value is normal again.
        assert_eq!(b.band(), before);
        assert!(matches!(b.observe(10.2), Verdict::Normal(_)));
    }

    #[test]
    fn a_flat_series_has_the_floor_as_its_spread() {
        let mut b = Baseline::new(learning());
        for _ in 0..10 {
            b.observe(0.0);
        }
        assert_eq!(
            b.band(),
            Band {
                low: -2.0,
                high: 2.0
            }
        );
        assert!(matches!(b.observe(1.0), Verdict::Normal(_)));
        assert!(matches!(b.observe(3.0), Verdict::Anomalous(_)));
    }

    #[test]
    fn a_lasting_change_is_learnt_again_from_a_fresh_warm_up() {
        let mut b = Baseline::new(learning());
        for _ in 0..10 {
            b.observe(10.0);
        }
        for _ in 0..4 {
            assert!(matches!(b.observe(100.0), Verdict::Anomalous(_)));
        }
        for i in 0..5 {
            assert_eq!(b.observe(100.0), Verdict::WarmingUp { seen: i + 1 });
        }
        assert!(matches!(b.observe(101.0), Verdict::Normal(_)));
    }

    #[test]
    fn not_a_number_is_ignored() {
        let mut b = Baseline::new(learning());
        for _ in 0..6 {
            b.observe(10.0);
        }
        assert_eq!(b.observe(f64::NAN), Verdict::Ignored);
        assert!(matches!(b.observe(10.0), Verdict::Normal(_)));
    }
}
