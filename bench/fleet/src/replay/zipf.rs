//! Zipf popularity: rank `k` (from 0) is picked with weight `1 / (k + 1)^exponent`.

use rand::Rng;

/// A Zipf distribution over `n` ranks, sampled by inverting its cumulative weights, so
/// the same random stream always gives the same ranks.
#[derive(Clone, Debug)]
pub struct Zipf {
    /// Cumulative normalised weights; the last is 1.
    cumulative: Vec<f64>,
}

impl Zipf {
    /// `n` ranks (at least one: `n = 0` is treated as one).
    pub fn new(n: usize, exponent: f64) -> Zipf {
        let weights: Vec<f64> = (1..=n.max(1)).map(|k| 1.0 / (k as f64).powf(exponent)).collect();
        let total: f64 = weights.iter().sum();
        let mut sum = 0.0;
        let mut cumulative: Vec<f64> = weights
            .iter()
            .map(|w| {
                sum += w / total;
                sum
            })
            .collect();
        if let Some(last) = cumulative.last_mut() {
            *last = 1.0;
        }
        Zipf { cumulative }
    }

    pub fn len(&self) -> usize {
        self.cumulative.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cumulative.is_empty()
    }

    /// Probability of rank `k`.
    pub fn probability(&self, k: usize) -> f64 {
        let below = if k == 0 { 0.0 } else { self.cumulative[k - 1] };
        self.cumulative.get(k).map_or(0.0, |c| c - below)
    }

    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> usize {
        let u: f64 = rng.random();
        self.cumulative.partition_point(|c| *c <= u).min(self.cumulative.len() - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn the_same_seed_picks_the_same_ranks() {
        let zipf = Zipf::new(40, 1.0);
        let picks = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            (0..200).map(|_| zipf.sample(&mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(picks(7), picks(7));
        assert_ne!(picks(7), picks(8));
        assert!(picks(7).iter().all(|&k| k < 40));
    }

    #[test]
    fn popularity_falls_with_rank() {
        let zipf = Zipf::new(10, 1.0);
        let total: f64 = (0..10).map(|k| zipf.probability(k)).sum();
        assert!((total - 1.0).abs() < 1e-9);
        // 1/H(10) = 0.3414...
        assert!((zipf.probability(0) - 0.3414).abs() < 1e-3);
        assert!((zipf.probability(1) * 2.0 - zipf.probability(0)).abs() < 1e-9);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut counts = [0u32; 10];
        for _ in 0..20_000 {
            counts[zipf.sample(&mut rng)] += 1;
        }
        assert!(counts[0] > counts[1] && counts[1] > counts[4] && counts[4] > counts[9], "{counts:?}");
        let share = f64::from(counts[0]) / 20_000.0;
        assert!((share - 0.3414).abs() < 0.02, "{share}");
    }

    #[test]
    fn one_rank_is_always_picked() {
        let zipf = Zipf::new(0, 1.0);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        assert_eq!((zipf.len(), zipf.sample(&mut rng)), (1, 0));
    }
}
