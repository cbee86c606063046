//! The blocked GEMM's tile kernels: each computes an MR×NR tile (or two side by side) from
//! packed panels, every output's products added one after another, k ascending, by fused
//! multiply-adds from zero, and writes the sums to C or adds them to it. The portable kernel is
//! the reference; the others give the same bits.

use super::{MR, NR};

/// One tile's sums, `Σ_p a[p][i] · b[p][j]`, p ascending, fused, written (or added) to C.
pub(super) fn tile_portable(kc: usize, a: &[f32], b: &[f32], c: &mut [f32], ldc: usize, add: bool) {
    let mut tile = [0.0f32; MR * NR];
    for (a, b) in a.chunks_exact(MR).zip(b.chunks_exact(NR)).take(kc) {
        for (sums, &a) in tile.chunks_exact_mut(NR).zip(a) {
            sums.iter_mut().zip(b).for_each(|(s, &b)| *s = a.mul_add(b, *s));
        }
    }
    for (sums, row) in tile.chunks_exact(NR).zip(c.chunks_mut(ldc)) {
        if add {
            row.iter_mut().zip(sums).for_each(|(c, s)| *c += s);
        } else {
            row[..NR].copy_from_slice(sums);
        }
    }
}

/// `tile_portable` with the 6x16 sums in 12 AVX2 registers: per step of k, two loads of B's
/// row and six broadcasts of A's column feed 12 FMAs.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn tile_avx2_fma(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    add: bool,
) {
    use std::arch::x86_64::*;
    let mut sums = [[_mm256_setzero_ps(); 2]; MR];
    for p in 0..kc {
        // SAFETY (all the blocks): the caller checked the panels hold kc rows and C the tile.
        let (b0, b1) = unsafe { (_mm256_loadu_ps(b.add(p * NR)), _mm256_loadu_ps(b.add(p * NR + 8))) };
        for (i, row) in sums.iter_mut().enumerate() {
            let a = unsafe { _mm256_broadcast_ss(&*a.add(p * MR + i)) };
            row[0] = _mm256_fmadd_ps(a, b0, row[0]);
            row[1] = _mm256_fmadd_ps(a, b1, row[1]);
        }
    }
    for (i, row) in sums.iter().enumerate() {
        unsafe {
            let (c0, c1) = (c.add(i * ldc), c.add(i * ldc + 8));
            if add {
                _mm256_storeu_ps(c0, _mm256_add_ps(_mm256_loadu_ps(c0), row[0]));
                _mm256_storeu_ps(c1, _mm256_add_ps(_mm256_loadu_ps(c1), row[1]));
            } else {
                _mm256_storeu_ps(c0, row[0]);
                _mm256_storeu_ps(c1, row[1]);
            }
        }
    }
}

/// Two `tile_avx2_fma` tiles side by side in AVX-512 registers: per step of k, one load from
/// each panel of B and six broadcasts of A's column feed 12 FMAs of 16 lanes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn tile_pair_avx512(
    kc: usize,
    a: *const f32,
    b0: *const f32,
    b1: *const f32,
    c: *mut f32,
    ldc: usize,
    add: bool,
) {
    use std::arch::x86_64::*;
    let mut sums = [[_mm512_setzero_ps(); 2]; MR];
    for p in 0..kc {
        // SAFETY (all the blocks): the caller checked the panels hold kc rows and C the tiles.
        let (x0, x1) = unsafe { (_mm512_loadu_ps(b0.add(p * NR)), _mm512_loadu_ps(b1.add(p * NR))) };
        for (i, row) in sums.iter_mut().enumerate() {
            let a = _mm512_set1_ps(unsafe { *a.add(p * MR + i) });
            row[0] = _mm512_fmadd_ps(a, x0, row[0]);
            row[1] = _mm512_fmadd_ps(a, x1, row[1]);
        }
    }
    for (i, row) in sums.iter().enumerate() {
        unsafe {
            let (c0, c1) = (c.add(i * ldc), c.add(i * ldc + NR));
            if add {
                _mm512_storeu_ps(c0, _mm512_add_ps(_mm512_loadu_ps(c0), row[0]));
                _mm512_storeu_ps(c1, _mm512_add_ps(_mm512_loadu_ps(c1), row[1]));
            } else {
                _mm512_storeu_ps(c0, row[0]);
                _mm512_storeu_ps(c1, row[1]);
            }
        }
    }
}
