//! Seeded pseudo-random numbers: SplitMix64 seeding, xoshiro256** draws and
//! cumulative-weight tables for weighted and Zipf choices.

/// One SplitMix64 step; used only to expand the seed into the xoshiro state.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// xoshiro256** generator seeded through SplitMix64.
#[derive(Debug, Clone)]
pub(crate) struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// Creates a generator whose whole stream is determined by `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        let mut sm = seed;
        let mut s = [0u64; 4];
        for word in &mut s {
            *word = splitmix64(&mut sm);
        }
        if s == [0; 4] {
            // Unreachable in practice (SplitMix64 is a bijection), but the
            // all-zero state would be a fixed point.
            s[0] = 1;
        }
        Self { s }
    }

    /// Next 64 uniformly distributed bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform float in `[0, 1)` with 53 bits of precision (like Python's `random()`).
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in `[0, n)` (Lemire's unbiased multiply-shift); `n` must be > 0.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0, "below(0)");
        let n128 = u128::from(n);
        let mut m = u128::from(self.next_u64()) * n128;
        let mut low = m as u64;
        if low < n {
            let threshold = n.wrapping_neg() % n;
            while low < threshold {
                m = u128::from(self.next_u64()) * n128;
                low = m as u64;
            }
        }
        (m >> 64) as u64
    }

    /// Uniform index in `[0, len)`; `len` must be > 0.
    pub(crate) fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    /// Uniform integer in `[lo, hi]` (Python's `randint`).
    pub(crate) fn range_inclusive(&mut self, lo: u64, hi: u64) -> u64 {
        debug_assert!(lo <= hi);
        match (hi - lo).checked_add(1) {
            Some(span) => lo + self.below(span),
            None => self.next_u64(),
        }
    }

    /// Uniform float in `[a, b)` (Python's `uniform`).
    pub(crate) fn uniform(&mut self, a: f64, b: f64) -> f64 {
        a + (b - a) * self.next_f64()
    }

    /// True with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.next_f64() < p
    }

    /// A uniformly chosen word of a non-empty vocabulary table.
    pub(crate) fn pick(&mut self, words: &[&'static str]) -> &'static str {
        words[self.index(words.len())]
    }

    /// A uniformly chosen element of a non-empty slice.
    pub(crate) fn choose<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.index(items.len())]
    }
}

/// Running sums of a weight vector; sampling is a binary search (`bisect_right`).
#[derive(Debug, Clone)]
pub(crate) struct Cumulative {
    cum: Vec<f64>,
}

impl Cumulative {
    /// Builds the table from relative weights (all must be positive and finite).
    pub(crate) fn new(weights: impl IntoIterator<Item = f64>) -> Self {
        let mut total = 0.0;
        let cum = weights
            .into_iter()
            .map(|w| {
                total += w;
                total
            })
            .collect();
        Self { cum }
    }

    /// Zipf weights: the item of rank `r` (1-based) gets `1 / r^s`.
    pub(crate) fn zipf(n: usize, s: f64) -> Self {
        Self::new((1..=n).map(|r| 1.0 / (r as f64).powf(s)))
    }

    /// Number of items.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.cum.len()
    }

    /// Sum of all weights.
    pub(crate) fn total(&self) -> f64 {
        self.cum.last().copied().unwrap_or(0.0)
    }

    /// Running sum up to and including item `i`.
    pub(crate) fn upper(&self, i: usize) -> f64 {
        self.cum[i]
    }

    /// Running sum of the items before `i`.
    pub(crate) fn lower(&self, i: usize) -> f64 {
        if i == 0 { 0.0 } else { self.cum[i - 1] }
    }

    /// Index of the first item whose running sum exceeds `x`, clamped to the last item.
    pub(crate) fn locate(&self, x: f64) -> usize {
        let i = self.cum.partition_point(|&c| c <= x);
        i.min(self.cum.len().saturating_sub(1))
    }

    /// Draws an index with probability proportional to its weight.
    pub(crate) fn sample(&self, rng: &mut Rng) -> usize {
        self.locate(rng.next_f64() * self.total())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_different_seed_different_stream() {
        let mut a = Rng::new(42);
        let mut b = Rng::new(42);
        let mut c = Rng::new(43);
        let xs: Vec<u64> = (0..16).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..16).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..16).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }

    #[test]
    fn floats_are_in_unit_interval_with_mean_one_half() {
        let mut rng = Rng::new(7);
        let n = 200_000;
        let mut sum = 0.0;
        for _ in 0..n {
            let x = rng.next_f64();
            assert!((0.0..1.0).contains(&x));
            sum += x;
        }
        let mean = sum / f64::from(n);
        assert!((mean - 0.5).abs() < 0.005, "mean {mean}");
    }

    #[test]
    fn below_and_ranges_stay_in_bounds_and_cover_them() {
        let mut rng = Rng::new(1);
        let mut seen = [0u32; 7];
        for _ in 0..70_000 {
            seen[rng.index(7)] += 1;
            let v = rng.range_inclusive(1, 254);
            assert!((1..=254).contains(&v));
            let u = rng.uniform(0.4, 1.6);
            assert!((0.4..1.6).contains(&u));
        }
        for &c in &seen {
            assert!((9_000..11_000).contains(&c), "{seen:?}");
        }
        assert_eq!(rng.range_inclusive(5, 5), 5);
        let _ = rng.range_inclusive(0, u64::MAX);
    }

    #[test]
    fn cumulative_locate_is_bisect_right() {
        let c = Cumulative::new([1.0, 2.0, 3.0]);
        assert_eq!(c.total(), 6.0);
        assert_eq!(c.locate(0.0), 0);
        assert_eq!(c.locate(0.999), 0);
        assert_eq!(c.locate(1.0), 1);
        assert_eq!(c.locate(2.9), 1);
        assert_eq!(c.locate(3.0), 2);
        assert_eq!(c.locate(6.0), 2); // clamped
        assert_eq!(c.lower(0), 0.0);
        assert_eq!(c.lower(2), 3.0);
        assert_eq!(c.upper(2), 6.0);
    }

    #[test]
    fn weighted_sampling_follows_weights() {
        let c = Cumulative::new([1.0, 3.0]);
        let mut rng = Rng::new(9);
        let n = 100_000;
        let ones = (0..n).filter(|_| c.sample(&mut rng) == 1).count();
        let share = ones as f64 / n as f64;
        assert!((share - 0.75).abs() < 0.01, "share {share}");
    }

    #[test]
    fn zipf_weights_are_one_over_rank_to_the_s() {
        let z = Cumulative::zipf(4, 1.0);
        assert_eq!(z.len(), 4);
        let expected = 1.0 + 0.5 + 1.0 / 3.0 + 0.25;
        assert!((z.total() - expected).abs() < 1e-12);
        let flat = Cumulative::zipf(4, 0.0);
        assert_eq!(flat.total(), 4.0);
    }
}
