//! Round-robin and weighted round-robin as one cycle of real indices.
//!
//! IPVS's `wrr` walks a "current weight" down from the largest weight by the gcd of
//! all weights and picks, in order, each real whose weight is at least the current
//! weight (`ip_vs_wrr_schedule`). One full cycle visits every real exactly
//! `weight / gcd` times, so writing that cycle into a table and letting the program
//! step a cursor through it gives IPVS's order and exact proportions.

use super::SchedError;

/// Longest cycle written to the data plane. Longer exact cycles are scaled down
/// (see [`wrr_cycle`]).
pub const MAX_CYCLE: usize = super::RING_SIZE;

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// `rr`: every real with a non-zero weight once, in configuration order.
pub fn rr_cycle(weights: &[u32]) -> Vec<u32> {
    (0..weights.len() as u32)
        .filter(|&i| weights[i as usize] > 0)
        .collect()
}

/// `wrr`: IPVS's interleaved weighted cycle over real indices.
///
/// Weights 0 are quiesced (never picked). When the exact cycle (sum of weights over
/// their gcd) is longer than [`MAX_CYCLE`], the weights are first scaled so the
/// cycle fits (largest-remainder rounding, every live real keeps at least one
/// turn); proportions are then exact to within one turn in [`MAX_CYCLE`].
pub fn wrr_cycle(weights: &[u32]) -> Result<Vec<u32>, SchedError> {
    let live: u64 = weights.iter().map(|&w| u64::from(w)).sum();
    if live == 0 {
        return Ok(Vec::new());
    }
    let g = weights.iter().fold(0, |g, &w| gcd(g, w));
    let mut w: Vec<u32> = weights.iter().map(|&x| x / g).collect();
    let total: u64 = w.iter().map(|&x| u64::from(x)).sum();
    if total > MAX_CYCLE as u64 {
        w = scale(&w, MAX_CYCLE as u64);
        let g2 = w.iter().fold(0, |g, &x| gcd(g, x));
        w.iter_mut().for_each(|x| *x /= g2);
    }
    let max = *w.iter().max().expect("non-empty: live > 0");
    let len: u64 = w.iter().map(|&x| u64::from(x)).sum();
    let mut out = Vec::with_capacity(len as usize);
    // Each pass lowers the current weight by 1 (gcd is 1 now); a real is picked in
    // every pass whose current weight it reaches: max passes, weight picks each.
    for cw in (1..=max).rev() {
        for (i, &x) in w.iter().enumerate() {
            if x >= cw {
                out.push(i as u32);
            }
        }
    }
    debug_assert_eq!(out.len() as u64, len);
    if out.len() > MAX_CYCLE {
        return Err(SchedError::TableTooLarge { len: out.len() });
    }
    Ok(out)
}

/// Scales weights so they sum to at most `target`, keeping every non-zero weight
/// at least 1 (largest-remainder apportionment).
fn scale(w: &[u32], target: u64) -> Vec<u32> {
    let live = w.iter().filter(|&&x| x > 0).count() as u64;
    let total: u64 = w.iter().map(|&x| u64::from(x)).sum();
    // Reserve one turn per live real, apportion the rest.
    let rest = target.saturating_sub(live);
    let mut out: Vec<u32> = Vec::with_capacity(w.len());
    let mut rems: Vec<(u64, usize)> = Vec::new();
    let mut used = 0u64;
    for (i, &x) in w.iter().enumerate() {
        if x == 0 {
            out.push(0);
            continue;
        }
        let exact = u128::from(x) * u128::from(rest);
        let q = (exact / u128::from(total)) as u64;
        rems.push(((exact % u128::from(total)) as u64, i));
        used += q;
        out.push(1 + q as u32);
    }
    rems.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, i) in rems.iter().take((rest - used) as usize) {
        out[i] += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(cycle: &[u32], n: usize) -> Vec<usize> {
        let mut c = vec![0; n];
        for &i in cycle {
            c[i as usize] += 1;
        }
        c
    }

    #[test]
    fn rr_skips_quiesced() {
        assert_eq!(rr_cycle(&[1, 0, 5]), vec![0, 2]);
    }

    #[test]
    fn wrr_matches_ipvs_order() {
        // ipvsadm with weights 4,3,2 schedules: a a b a b c a b c (cw 4,3,2,1).
        assert_eq!(
            wrr_cycle(&[4, 3, 2]).unwrap(),
            vec![0, 0, 1, 0, 1, 2, 0, 1, 2]
        );
    }

    #[test]
    fn wrr_proportions_exact_over_one_cycle() {
        let c = wrr_cycle(&[1, 2, 3]).unwrap();
        assert_eq!(c.len(), 6);
        assert_eq!(counts(&c, 3), vec![1, 2, 3]);
        let c = wrr_cycle(&[100, 200, 300, 0]).unwrap();
        assert_eq!(counts(&c, 4), vec![1, 2, 3, 0]);
        let w = [7, 13, 1, 0, 29];
        let c = wrr_cycle(&w).unwrap();
        assert_eq!(counts(&c, 5), vec![7, 13, 1, 0, 29]);
    }

    #[test]
    fn wrr_all_zero_is_empty() {
        assert!(wrr_cycle(&[0, 0]).unwrap().is_empty());
    }

    #[test]
    fn wrr_scales_huge_cycles_to_fit() {
        let w: Vec<u32> = (1..=1000).collect();
        let c = wrr_cycle(&w).unwrap();
        assert!(c.len() <= MAX_CYCLE, "{}", c.len());
        let n = counts(&c, 1000);
        assert!(n.iter().all(|&x| x >= 1));
        // Real 1000 (weight 1000) gets ~1000x real 1's share, within rounding.
        let share = n[999] as f64 / c.len() as f64;
        let want = 1000.0 / 500_500.0;
        assert!((share - want).abs() / want < 0.01, "{share} vs {want}");
    }
}
