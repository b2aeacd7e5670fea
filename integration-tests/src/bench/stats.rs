//! Small statistics helpers (no dependency): percentiles by nearest rank.

/// Summary of a sample (same unit as the input).
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub n: usize,
    pub min: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

/// The `p`-th percentile (0–100) of a sorted sample, nearest rank.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn summarize(values: &[f64]) -> Summary {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(|a, b| a.total_cmp(b));
    if sorted.is_empty() {
        return Summary::default();
    }
    Summary {
        n: sorted.len(),
        min: sorted[0],
        p50: percentile(&sorted, 50.0),
        p95: percentile(&sorted, 95.0),
        p99: percentile(&sorted, 99.0),
        max: sorted[sorted.len() - 1],
        mean: sorted.iter().sum::<f64>() / sorted.len() as f64,
    }
}

pub fn median(values: &[f64]) -> f64 {
    summarize(values).p50
}

/// The most requests inside any 1-second window (sliding), from sorted times in seconds.
pub fn peak_in_window(sorted_seconds: &[f64], window: f64) -> usize {
    let mut best = 0;
    let mut start = 0;
    for end in 0..sorted_seconds.len() {
        while sorted_seconds[end] - sorted_seconds[start] >= window {
            start += 1;
        }
        best = best.max(end - start + 1);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        let s = summarize(&v);
        assert_eq!((s.p50, s.p95, s.p99, s.max), (50.0, 95.0, 99.0, 100.0));
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
    }

    #[test]
    fn sliding_window_peak() {
        let t = [0.0, 0.1, 0.2, 0.95, 1.5, 1.6, 3.0];
        assert_eq!(peak_in_window(&t, 1.0), 4);
    }
}
