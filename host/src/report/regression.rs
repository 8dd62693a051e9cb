//! Whether one step's latencies regressed between a baseline run and a current one.
//! Latencies are skewed, heavy-tailed and tied at ms resolution, so a one-sided Mann–Whitney
//! U test (stochastic dominance, no normality assumed) decides significance, Cliff's delta
//! sizes the effect, and a seeded bootstrap interval of the p95 shift watches the tail. A
//! practical tolerance keeps a significant but tiny change on big samples from counting.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Below this the normal approximation of U is poor and a p95 is just the maximum.
pub const MIN_SAMPLES: usize = 8;
const RESAMPLES: usize = 1000;
/// Fixed, so the same two samples always get the same interval.
const SEED: u64 = 0xA07A_5EED;

/// How much slower counts as a regression, and how sure the test must be.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Tolerance {
    /// Relative slowdown of the median and of p95 allowed, e.g. 0.10 = 10 %.
    pub relative: f64,
    /// Absolute slowdown (ms) always allowed: below it a change is noise at ms resolution.
    pub absolute_ms: f64,
    /// Significance level of the one-sided Mann–Whitney U test, e.g. 0.01.
    pub alpha: f64,
    /// Smallest effect size (Cliff's delta, 0..1) for a median shift to count, e.g. 0.147
    /// ("small"). A p95 shift is exempt: a tail of k % of requests moves delta by k/100 at most.
    pub min_effect: f64,
}

impl Default for Tolerance {
    fn default() -> Self {
        Self {
            relative: 0.10,
            absolute_ms: 2.0,
            alpha: 0.01,
            min_effect: 0.147,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub baseline_n: usize,
    pub current_n: usize,
    pub baseline_median_ms: f64,
    pub current_median_ms: f64,
    pub baseline_p95_ms: f64,
    pub current_p95_ms: f64,
    /// One-sided p-value that current is stochastically greater (slower) than baseline.
    pub p_value: f64,
    /// Cliff's delta, -1..1, positive when current is slower.
    pub effect: f64,
    /// Bootstrap 95 % interval of (current p95 - baseline p95) in ms, seeded (deterministic).
    pub p95_shift_ms: (f64, f64),
    pub verdict: Verdict,
    /// One line in words: what was measured and why the verdict.
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Regressed,
    Improved,
    Unchanged,
    TooFewSamples,
}

/// Compares two samples of one step's latencies (ms). Non-finite values are dropped first;
/// the counts reported are of the values used.
pub fn compare(baseline: &[f64], current: &[f64], tolerance: &Tolerance) -> Comparison {
    let base = finite_sorted(baseline);
    let cur = finite_sorted(current);
    let (n, m) = (base.len(), cur.len());
    let (u, ties) = mann_whitney_u(&base, &cur);
    let (p_slower, p_faster) = p_values(u, ties, n, m);
    let pairs = n as f64 * m as f64;
    // Cliff's delta is P(cur > base) − P(cur < base) = 2U/(n·m) − 1, U counting ties as ½:
    // the merge that ranks the samples gives it in O(n log n), no pairwise count.
    let effect = if pairs > 0.0 {
        (2.0 * u / pairs - 1.0).clamp(-1.0, 1.0)
    } else {
        0.0
    };
    let (bm, cm) = (median(&base), median(&cur));
    let (bp, cp) = (p95(&base), p95(&cur));
    let shift = p95_shift_interval(&base, &cur);
    let allowed = (
        (tolerance.relative * bm).max(tolerance.absolute_ms),
        (tolerance.relative * bp).max(tolerance.absolute_ms),
    );
    let (verdict, why) = if n < MIN_SAMPLES || m < MIN_SAMPLES {
        let why = format!("too few samples (need {MIN_SAMPLES} finite values a side)");
        (Verdict::TooFewSamples, why)
    } else if let Some(why) = judge(p_slower, effect, cm - bm, shift.0, allowed, tolerance) {
        (Verdict::Regressed, format!("slower: {why}"))
    } else if let Some(why) = judge(p_faster, -effect, bm - cm, -shift.1, allowed, tolerance) {
        (Verdict::Improved, format!("faster: {why}"))
    } else if p_slower.min(p_faster) < tolerance.alpha {
        let (median, p95, min) = (allowed.0, allowed.1, tolerance.min_effect);
        let why = format!(
            "significant, but within tolerance ({median:.1} ms on the median at |delta| >= \
             {min}, {p95:.1} ms on the p95 interval)"
        );
        (Verdict::Unchanged, why)
    } else {
        let why =
            format!("no significant difference (p {p_slower:.2} slower, {p_faster:.2} faster)");
        (Verdict::Unchanged, why)
    };
    let (lo, hi) = shift;
    let reason = format!(
        "median {bm:.1} → {cm:.1} ms, p95 {bp:.1} → {cp:.1} ms (shift {lo:+.1}..{hi:+.1} ms, \
         95% CI), n {n}/{m}, delta {effect:+.3}: {why}"
    );
    Comparison {
        baseline_n: n,
        current_n: m,
        baseline_median_ms: bm,
        current_median_ms: cm,
        baseline_p95_ms: bp,
        current_p95_ms: cp,
        p_value: p_slower,
        effect,
        p95_shift_ms: shift,
        verdict,
        reason,
    }
}

/// Why the samples moved in the direction tested, or None; arguments are oriented so that
/// positive means that direction, `allowed` is (median, p95) in ms. Significance always
/// counts; Cliff's delta gates only the median, since a slower tail of k % of requests moves
/// delta by at most k/100: a 10 % tail 3x slower would never reach "small" (0.147).
fn judge(
    p: f64,
    effect: f64,
    median_shift: f64,
    p95_bound: f64,
    allowed: (f64, f64),
    tolerance: &Tolerance,
) -> Option<String> {
    let significant = p < tolerance.alpha;
    let (what, by, allowed) =
        if significant && effect >= tolerance.min_effect && median_shift > allowed.0 {
            ("median", median_shift, allowed.0)
        } else if significant && p95_bound > allowed.1 {
            ("p95 surely", p95_bound, allowed.1)
        } else {
            return None;
        };
    Some(format!(
        "p {p:.1e} < {}, {what} by {by:.1} ms > {allowed:.1} allowed",
        tolerance.alpha
    ))
}

fn finite_sorted(values: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_unstable_by(f64::total_cmp);
    v
}

/// The median of sorted values (0 of nothing): the one median of reports and monitors.
pub fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    match (sorted.get(n.wrapping_sub(1) / 2), sorted.get(n / 2)) {
        (Some(a), Some(b)) => (a + b) / 2.0,
        _ => 0.0,
    }
}

/// Nearest-rank p95: the ⌈0.95·n⌉-th smallest value (integer form, no float rounding).
fn p95_index(n: usize) -> usize {
    (n - n / 20).saturating_sub(1)
}

fn p95(sorted: &[f64]) -> f64 {
    sorted.get(p95_index(sorted.len())).copied().unwrap_or(0.0)
}

/// U of `cur` (pairs where current is slower, ties counting ½) and the tie term Σ(t³ − t),
/// from mid-ranks assigned while merging the two sorted samples.
fn mann_whitney_u(base: &[f64], cur: &[f64]) -> (f64, f64) {
    let (mut i, mut j) = (0, 0);
    let (mut rank_sum, mut ties, mut next_rank) = (0.0, 0.0, 1.0);
    loop {
        let v = match (base.get(i), cur.get(j)) {
            (Some(&b), Some(&c)) => b.min(c),
            (Some(&v), None) | (None, Some(&v)) => v,
            (None, None) => break,
        };
        let (i0, j0) = (i, j);
        while base.get(i) == Some(&v) {
            i += 1;
        }
        while cur.get(j) == Some(&v) {
            j += 1;
        }
        let (in_cur, t) = ((j - j0) as f64, (i - i0 + j - j0) as f64);
        rank_sum += in_cur * (next_rank + (t - 1.0) / 2.0);
        ties += t * t * t - t;
        next_rank += t;
    }
    let m = cur.len() as f64;
    (rank_sum - m * (m + 1.0) / 2.0, ties)
}

/// One-sided p-values (current slower, current faster) by the normal approximation with tie
/// and continuity corrections; no variance (all values equal, or a side empty) gives 1.
fn p_values(u: f64, ties: f64, n: usize, m: usize) -> (f64, f64) {
    let (n, m) = (n as f64, m as f64);
    let total = n + m;
    let var = n * m / 12.0 * ((total + 1.0) - ties / (total * (total - 1.0)));
    if !(var > 0.0 && var.is_finite()) {
        return (1.0, 1.0);
    }
    let (mean, sd) = (n * m / 2.0, var.sqrt());
    let upper = |z: f64| 0.5 * erfc(z / std::f64::consts::SQRT_2);
    (upper((u - mean - 0.5) / sd), upper((mean - u - 0.5) / sd))
}

/// erfc by the Maclaurin series of erf near 0 and Laplace's continued fraction beyond,
/// where 1 − erf would cancel; both good to ~1e-13 relative (see the test's table).
fn erfc(x: f64) -> f64 {
    if x < 0.0 {
        return 2.0 - erfc(-x);
    }
    if x < 2.0 {
        // erf(x) = 2/√π · Σ (−1)ᵏ x^(2k+1) / (k! (2k+1))
        let (mut term, mut sum) = (x, x);
        for k in 1..60 {
            term *= -x * x / k as f64;
            sum += term / (2 * k + 1) as f64;
        }
        return 1.0 - sum * std::f64::consts::FRAC_2_SQRT_PI;
    }
    // erfc(x) = e^(−x²)/√π · 1/(x + ½/(x + 1/(x + (3/2)/(x + …)))), summed from the bottom.
    let mut f = x;
    for k in (1..=80).rev() {
        f = x + (k as f64 / 2.0) / f;
    }
    (-x * x).exp() / (f * std::f64::consts::PI.sqrt())
}

/// Percentile-bootstrap 95 % interval of (current p95 − baseline p95).
fn p95_shift_interval(base: &[f64], cur: &[f64]) -> (f64, f64) {
    if base.is_empty() || cur.is_empty() {
        return (0.0, 0.0);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let mut shifts: Vec<f64> = (0..RESAMPLES)
        .map(|_| resampled_p95(&mut rng, cur) - resampled_p95(&mut rng, base))
        .collect();
    shifts.sort_unstable_by(f64::total_cmp);
    let at = |per_mille: usize| {
        let rank = (RESAMPLES * per_mille).div_ceil(1000); // nearest rank
        shifts.get(rank.saturating_sub(1)).copied().unwrap_or(0.0)
    };
    (at(25), at(975))
}

/// The p95 of one bootstrap resample of `sorted`, exactly but in O(1): the resample's p95 is
/// its k-th smallest draw, and the k-th smallest of n uniform indices is ⌊n·B⌋ with
/// B ~ Beta(k, n−k+1). Drawing n indices instead costs 10⁸ draws at 50,000 values a side.
fn resampled_p95(rng: &mut ChaCha8Rng, sorted: &[f64]) -> f64 {
    let n = sorted.len();
    let k = p95_index(n) + 1;
    let x = gamma(rng, k as f64);
    let y = gamma(rng, (n + 1 - k) as f64);
    // `as` saturates; the min guards B rounding up to 1.
    let index = ((x / (x + y) * n as f64) as usize).min(n.saturating_sub(1));
    sorted.get(index).copied().unwrap_or(0.0)
}

/// Gamma(shape, 1) by Marsaglia–Tsang, which needs shape ≥ 1 (clamped, so the loop always
/// ends: it accepts over 95 % of tries).
fn gamma(rng: &mut ChaCha8Rng, shape: f64) -> f64 {
    let d = shape.max(1.0) - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = standard_normal(rng);
        let v = (1.0 + c * x).powi(3);
        let u: f64 = 1.0 - rng.random::<f64>();
        if v > 0.0 && u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

/// Box–Muller; 1 − u keeps the logarithm finite.
fn standard_normal(rng: &mut ChaCha8Rng) -> f64 {
    let u = 1.0 - rng.random::<f64>();
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * rng.random::<f64>()).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Log-normal latencies around `median` ms, rounded to `step` ms like real timings.
    fn latencies(seed: u64, n: usize, median: f64, sigma: f64, step: f64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut draw = || median * (sigma * standard_normal(&mut rng)).exp();
        (0..n).map(|_| (draw() / step).round() * step).collect()
    }

    fn check(baseline: &[f64], current: &[f64]) -> Comparison {
        compare(baseline, current, &Tolerance::default())
    }

    #[test]
    fn same_distribution_is_never_regressed() {
        for seed in 0..20 {
            for n in [200, 5000] {
                let base = latencies(2 * seed, n, 20.0, 0.5, 1.0);
                let c = check(&base, &latencies(2 * seed + 1, n, 20.0, 0.5, 1.0));
                assert!(c.verdict == Verdict::Unchanged, "{seed}, {n}: {}", c.reason);
            }
        }
    }

    #[test]
    fn clear_median_shift_is_regressed() {
        let mut cur = latencies(2, 200, 2.0, 0.3, 1.0);
        cur.iter_mut().for_each(|x| *x += 30.0);
        let c = check(&latencies(1, 200, 2.0, 0.3, 1.0), &cur);
        assert!(
            c.verdict == Verdict::Regressed && c.reason.contains("median by"),
            "{c:?}"
        );
        assert!(c.effect > 0.99 && c.p_value < 1e-30, "{c:?}");
    }

    #[test]
    fn slow_tail_is_regressed_via_the_p95_interval() {
        // Every tenth request 3x slower (samples are iid, so which ones does not matter).
        let cur = latencies(4, 2000, 10.0, 0.25, 1.0).into_iter().enumerate();
        let cur: Vec<f64> = cur
            .map(|(i, x)| if i % 10 == 0 { 3.0 * x } else { x })
            .collect();
        let c = check(&latencies(3, 2000, 10.0, 0.25, 1.0), &cur);
        assert!(
            c.verdict == Verdict::Regressed && c.reason.contains("p95 surely"),
            "{c:?}"
        );
        assert!(c.current_p95_ms >= 1.5 * c.baseline_p95_ms, "{c:?}");
        // The median barely moves and delta stays under "small": only the tail shows it.
        assert!(
            c.current_median_ms - c.baseline_median_ms <= 2.0 && c.effect < 0.147,
            "{c:?}"
        );
    }

    #[test]
    fn significant_but_tiny_shift_is_within_tolerance() {
        let mut cur = latencies(7, 20_000, 5.0, 0.05, 0.01);
        cur.iter_mut().for_each(|x| *x += 0.3);
        let c = check(&latencies(6, 20_000, 5.0, 0.05, 0.01), &cur);
        assert!(c.p_value < 1e-9 && c.effect > 0.147, "{c:?}");
        assert!(
            c.verdict == Verdict::Unchanged && c.reason.contains("within tolerance"),
            "{c:?}"
        );
    }

    #[test]
    fn faster_is_improved() {
        let c = check(
            &latencies(8, 300, 40.0, 0.3, 1.0),
            &latencies(9, 300, 25.0, 0.3, 1.0),
        );
        assert!(c.verdict == Verdict::Improved, "{}", c.reason);
        assert!(
            c.effect < -0.5 && c.p_value > 0.99 && c.p95_shift_ms.1 < 0.0,
            "{c:?}"
        );
    }

    #[test]
    fn fewer_than_eight_samples_is_too_few() {
        let mut cur = vec![1000.0; 7];
        cur.extend([f64::NAN; 5]);
        let c = check(&latencies(10, 100, 2.0, 0.3, 1.0), &cur);
        assert!(
            c.verdict == Verdict::TooFewSamples && c.current_n == 7,
            "{c:?}"
        );
        let json = serde_json::to_string(&c).unwrap_or_default();
        assert!(json.contains(r#""verdict":"too_few_samples""#), "{json}");
    }

    #[test]
    fn bad_or_degenerate_input_does_not_panic() {
        let big = latencies(11, 50_000, 20.0, 1.0, 1.0);
        let junk = [
            f64::NAN,
            f64::INFINITY,
            -f64::INFINITY,
            1e300,
            -1e300,
            0.0,
            -0.0,
        ];
        let same = vec![3.0; 50];
        let inputs: [&[f64]; 6] = [&[], &[f64::NAN; 20], &junk, &same, &big, &big[..10]];
        for (a, b) in inputs.iter().flat_map(|a| inputs.map(|b| (a, b))) {
            let c = check(a, b);
            let (lo, hi) = c.p95_shift_ms;
            let fields = [
                c.baseline_median_ms,
                c.current_p95_ms,
                c.p_value,
                c.effect,
                lo,
                hi,
            ];
            assert!(fields.iter().all(|x| x.is_finite()), "{c:?}");
        }
        let c = check(&same, &same);
        assert!(
            (c.verdict, c.p_value, c.effect) == (Verdict::Unchanged, 1.0, 0.0),
            "{c:?}"
        );
    }

    #[test]
    fn u_and_p_match_a_textbook_example_and_brute_force() {
        // Conover's diabetes ages (the scipy docs' example): U = 17, asymptotic two-sided
        // p = 0.11134688653314041 with tie and continuity correction.
        let males = finite_sorted(&[19.0, 22.0, 16.0, 29.0, 24.0]);
        let females = finite_sorted(&[20.0, 11.0, 17.0, 12.0]);
        let (u, ties) = mann_whitney_u(&females, &males);
        let (p, _) = p_values(u, ties, females.len(), males.len());
        assert!(
            u == 17.0 && (2.0 * p - 0.111_346_886_533_140_41).abs() < 1e-12,
            "{u} {p}"
        );
        // Tied ms data: U and Cliff's delta against an O(n·m) count.
        let base = finite_sorted(&latencies(12, 60, 3.0, 0.5, 1.0));
        let cur = finite_sorted(&latencies(13, 45, 3.5, 0.5, 1.0));
        let count = |slower: fn(f64, f64) -> bool| {
            let pairs = base.iter().flat_map(|&b| cur.iter().map(move |&c| (b, c)));
            pairs.filter(|&(b, c)| slower(b, c)).count() as f64
        };
        let (gt, lt) = (count(|b, c| c > b), count(|b, c| c < b));
        assert_eq!(mann_whitney_u(&base, &cur).0, gt + (2700.0 - gt - lt) / 2.0);
        assert!((check(&base, &cur).effect - (gt - lt) / 2700.0).abs() < 1e-12);
    }

    #[test]
    fn one_beta_draw_matches_a_literal_resample() {
        // The O(1) resampled p95 must be distributed as "draw n with replacement, take the
        // nearest-rank p95": the two histograms over the n values must agree.
        let mut rng = ChaCha8Rng::seed_from_u64(14);
        for n in [8_u32, 40] {
            let sorted: Vec<f64> = (0..n).map(f64::from).collect();
            let mut gap = vec![0_i32; n as usize];
            for _ in 0..20_000 {
                let mut resample: Vec<f64> =
                    (0..n).map(|_| f64::from(rng.random_range(0..n))).collect();
                resample.sort_unstable_by(f64::total_cmp);
                gap[p95(&resample) as usize] += 1;
                gap[resampled_p95(&mut rng, &sorted) as usize] -= 1;
            }
            let total_variation = f64::from(gap.iter().map(|g| g.abs()).sum::<i32>()) / 40_000.0;
            assert!(total_variation < 0.04, "n {n}: {total_variation}");
        }
    }

    #[test]
    fn erfc_matches_tabulated_values() {
        let table = [
            (0.0, 1.0),
            (0.5, 0.479_500_122_186_953_5),
            (1.0, 0.157_299_207_050_285_13),
            (1.999, 0.004_698_443_348_629_488),
            (2.0, 0.004_677_734_981_047_266),
            (3.0, 2.209_049_699_858_544e-5),
            (10.0, 2.088_487_583_762_545e-45),
            (-1.0, 1.842_700_792_949_715),
        ];
        for (x, want) in table {
            let got = erfc(x);
            assert!(
                ((got - want) / want).abs() < 1e-12,
                "erfc({x}) = {got}, not {want}"
            );
        }
    }
}
