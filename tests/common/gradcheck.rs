//! The central finite-difference gradient check every backward-pass test uses: one copy, so
//! every layer is held to the same tolerance.

/// Checks `analytic` (the gradient of `loss` at `x`) against central differences, coordinate by
/// coordinate: |numeric − analytic| ≤ 1% of their size + 1e-4 (the noise of f32 arithmetic
/// divided by the probe step).
pub fn check_gradient(what: &str, x: &[f32], analytic: &[f32], loss: impl Fn(&[f32]) -> f64) {
    let checked = check_gradient_away_from_kinks(what, x, analytic, |x| (loss(x), Vec::new()));
    assert_eq!(checked, x.len(), "{what}: every coordinate is smooth here");
}

/// As `check_gradient`, for a loss that also returns its activation pattern (which ReLUs are on,
/// which pixels win each max-pool). A probe whose pattern differs from the pattern at `x` crossed
/// a kink, where the finite difference means nothing: that coordinate is skipped. Returns how
/// many coordinates were checked.
pub fn check_gradient_away_from_kinks(
    what: &str,
    x: &[f32],
    analytic: &[f32],
    loss: impl Fn(&[f32]) -> (f64, Vec<u32>),
) -> usize {
    const EPS: f32 = 1e-2;
    assert_eq!(x.len(), analytic.len(), "{what}: gradient length");
    assert!(analytic.iter().any(|&g| g.abs() > 1e-3), "{what}: gradient is ~zero, check is vacuous");
    let pattern = loss(x).1;
    let mut probe = x.to_vec();
    let mut checked = 0;
    for i in 0..x.len() {
        probe[i] = x[i] + EPS;
        let (up, up_pattern) = loss(&probe);
        probe[i] = x[i] - EPS;
        let (down, down_pattern) = loss(&probe);
        probe[i] = x[i];
        if up_pattern != pattern || down_pattern != pattern {
            continue;
        }
        let numeric = (up - down) / (2.0 * EPS as f64);
        let analytic_i = analytic[i] as f64;
        let allowed = 1e-2 * numeric.abs().max(analytic_i.abs()) + 1e-4;
        assert!(
            (numeric - analytic_i).abs() <= allowed,
            "{what}[{i}]: analytic {analytic_i:.6} vs numeric {numeric:.6} (allowed difference {allowed:.1e})"
        );
        checked += 1;
    }
    checked
}

/// Σ upstream · output, in f64: a scalar loss whose gradient w.r.t. the output is `upstream`.
pub fn dot(upstream: &[f32], output: &[f32]) -> f64 {
    upstream.iter().zip(output).map(|(&g, &y)| g as f64 * y as f64).sum()
}
