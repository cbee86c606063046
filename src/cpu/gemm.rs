//! Matrix product on row-major slices, through the `matrixmultiply` crate (runtime-detected
//! AVX2/FMA kernels). The only place the crate is called.

/// C (m×n) = op(A) · op(B) + beta · C, where op(A) is m×k and op(B) is k×n. A is stored row-major
/// as m×k, or as k×m when `a_transposed`; likewise B as k×n, or n×k when `b_transposed`.
/// With beta = 0, C's previous contents are ignored.
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    a_transposed: bool,
    b: &[f32],
    b_transposed: bool,
    beta: f32,
    c: &mut [f32],
) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n, "gemm: slice too short");
    let (rsa, csa) = if a_transposed { (1, m as isize) } else { (k as isize, 1) };
    let (rsb, csb) = if b_transposed { (1, k as isize) } else { (n as isize, 1) };
    // SAFETY: the asserts above guarantee every index the strides reach is inside its slice.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            rsa,
            csa,
            b.as_ptr(),
            rsb,
            csb,
            beta,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::gemm;

    #[test]
    fn transposes_agree_with_a_plain_product() {
        // A = [[1,2,3],[4,5,6]] (2×3), B = [[1,0],[0,1],[1,1]] (3×2): AB = [[4,5],[10,11]].
        let a = [1., 2., 3., 4., 5., 6.];
        let a_t = [1., 4., 2., 5., 3., 6.];
        let b = [1., 0., 0., 1., 1., 1.];
        let b_t = [1., 0., 1., 0., 1., 1.];
        for (aa, at) in [(&a, false), (&a_t, true)] {
            for (bb, bt) in [(&b, false), (&b_t, true)] {
                let mut c = [f32::NAN; 4];
                gemm(2, 2, 3, aa, at, bb, bt, 0.0, &mut c);
                assert_eq!(c, [4., 5., 10., 11.], "a_t={at} b_t={bt}");
            }
        }
        let mut c = [1.0; 4];
        gemm(2, 2, 3, &a, false, &b, false, 1.0, &mut c);
        assert_eq!(c, [5., 6., 11., 12.]);
    }
}
