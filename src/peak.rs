//! The achievable peak f32 FLOP/s of this CPU: independent chains of fused multiply-adds in
//! registers, no memory traffic, timed on one thread and on every thread of rayon's pool. The
//! clock a guest runs at is hidden (boost or not), so the CPU path's figures are quoted as a
//! fraction of this measured peak rather than of a paper one.

use rayon::prelude::*;
use web_time::Instant;

/// The measured peak, in GFLOP/s.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Peak {
    /// What ran: "avx512f", "avx2+fma" or "scalar" (the widest this CPU has).
    pub kernel: &'static str,
    pub one_thread_gflops: f64,
    pub all_threads_gflops: f64,
    pub threads: usize,
}

/// Independent accumulators: an FMA's latency (4 cycles) times its pipes (2) is 8 in flight;
/// 12 leaves slack.
const CHAINS: usize = 12;

/// Which loop `fma_loop` runs on this CPU: the widest vectors it has.
fn kernel() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return "avx512f";
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            return "avx2+fma";
        }
    }
    "scalar"
}

/// `rounds` rounds of CHAINS independent FMA chains on the widest vectors the CPU has (AVX-512:
/// 16 lanes, on some CPUs twice AVX2's rate; AVX2 + FMA: 8 lanes; else the scalar loop); returns
/// the FLOP done and a value that keeps the work live.
fn fma_loop(rounds: usize) -> (f64, f32) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: AVX-512F is present (checked just above).
        let sink = unsafe { fma_loop_avx512(rounds) };
        return ((rounds * CHAINS * 16 * 2) as f64, sink);
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: AVX2 and FMA are present (checked just above).
        let sink = unsafe { fma_loop_avx2(rounds) };
        return ((rounds * CHAINS * 8 * 2) as f64, sink);
    }
    (scalar_flops(rounds), fma_loop_scalar(rounds))
}

fn scalar_flops(rounds: usize) -> f64 {
    (rounds * CHAINS * 2) as f64
}

/// The portable loop: CHAINS independent multiply-add chains (two FLOP each), which the compiler
/// may vectorize or not.
pub fn fma_loop_scalar(rounds: usize) -> f32 {
    let mut acc: [f32; CHAINS] = std::array::from_fn(|i| i as f32 * 1e-3);
    let (a, b) = (std::hint::black_box(0.999_999f32), std::hint::black_box(1e-7f32));
    for _ in 0..rounds {
        for x in &mut acc {
            *x = *x * a + b;
        }
    }
    acc.iter().sum()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn fma_loop_avx2(rounds: usize) -> f32 {
    use std::arch::x86_64::*;
    let a = _mm256_set1_ps(std::hint::black_box(0.999_999));
    let b = _mm256_set1_ps(std::hint::black_box(1e-7));
    let mut acc: [__m256; CHAINS] = std::array::from_fn(|i| _mm256_set1_ps(i as f32 * 1e-3));
    for _ in 0..rounds {
        for x in &mut acc {
            *x = _mm256_fmadd_ps(*x, a, b);
        }
    }
    let mut sum = _mm256_setzero_ps();
    for x in acc {
        sum = _mm256_add_ps(sum, x);
    }
    let mut lanes = [0.0f32; 8];
    // SAFETY: `lanes` holds 8 floats.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), sum) };
    lanes.iter().sum()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn fma_loop_avx512(rounds: usize) -> f32 {
    use std::arch::x86_64::*;
    let a = _mm512_set1_ps(std::hint::black_box(0.999_999));
    let b = _mm512_set1_ps(std::hint::black_box(1e-7));
    let mut acc: [__m512; CHAINS] = std::array::from_fn(|i| _mm512_set1_ps(i as f32 * 1e-3));
    for _ in 0..rounds {
        for x in &mut acc {
            *x = _mm512_fmadd_ps(*x, a, b);
        }
    }
    let mut sum = _mm512_setzero_ps();
    for x in acc {
        sum = _mm512_add_ps(sum, x);
    }
    _mm512_reduce_add_ps(sum)
}

/// The best GFLOP/s of a few timed runs of `rounds` rounds on each of `threads` threads at once.
fn best_rate(threads: usize, rounds: usize) -> f64 {
    let mut best = 0.0f64;
    for _ in 0..5 {
        let start = Instant::now();
        let flops: f64 = (0..threads)
            .into_par_iter()
            .map(|_| {
                let (flops, sink) = fma_loop(rounds);
                std::hint::black_box(sink);
                flops
            })
            .sum();
        best = best.max(flops / start.elapsed().as_secs_f64() / 1e9);
    }
    best
}

/// Measures the peak on one thread and on all of rayon's (about 0.1 s each per run on a
/// 3 GHz core at the default `rounds`).
pub fn measure(rounds: usize) -> Peak {
    let threads = rayon::current_num_threads();
    let one = best_rate(1, rounds);
    let all = best_rate(threads, rounds);
    Peak { kernel: kernel(), one_thread_gflops: one, all_threads_gflops: all, threads }
}

/// Rounds per run by default: 2·10⁷ rounds are 3.8 GFLOP on AVX2.
pub const DEFAULT_ROUNDS: usize = 20_000_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_loops_compute_the_same_chains() {
        // 12 chains x_{t+1} = x_t·a + b from x_0 = i·1e-3: each lane of a vector loop follows
        // the scalar loop's chain, so its sum is `lanes` times the scalar one's (up to rounding).
        let scalar = fma_loop_scalar(1000);
        let (flops, simd) = fma_loop(1000);
        assert!(scalar.is_finite() && scalar > 0.0);
        let lanes = (flops / scalar_flops(1000)) as f32;
        assert_eq!(
            lanes,
            [1.0, 8.0, 16.0][["scalar", "avx2+fma", "avx512f"].iter().position(|&k| k == kernel()).unwrap()]
        );
        assert!((simd - lanes * scalar).abs() < 1e-3 * simd.abs(), "{simd} vs {lanes} x {scalar}");
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn every_vector_loop_this_cpu_has_follows_the_scalar_chains() {
        let scalar = fma_loop_scalar(1000);
        let close = |simd: f32, lanes: f32| (simd - lanes * scalar).abs() < 1e-3 * simd.abs();
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: checked just above.
            assert!(close(unsafe { fma_loop_avx2(1000) }, 8.0));
        }
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: checked just above.
            assert!(close(unsafe { fma_loop_avx512(1000) }, 16.0));
        }
    }

    #[test]
    fn measures_a_positive_rate() {
        let p = measure(100_000);
        assert!(p.one_thread_gflops > 0.0 && p.all_threads_gflops > 0.0, "{p:?}");
    }
}
