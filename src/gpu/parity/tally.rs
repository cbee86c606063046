//! What the parity suite keeps of each kernel: its worst relative error and the case that gave it.

/// One kernel's worst error over the suite, and the case that gave it.
#[derive(Clone, Debug, PartialEq)]
pub struct KernelParity {
    pub kernel: &'static str,
    pub error: f32,
    pub worst_case: String,
}

/// The largest |gpu − cpu| over the largest |cpu|, and where it is; infinite for a NaN or a
/// length that differs.
pub fn relative_error(gpu: &[f32], cpu: &[f32]) -> (f32, usize) {
    if gpu.len() != cpu.len() {
        return (f32::INFINITY, 0);
    }
    let scale = cpu.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(f32::MIN_POSITIVE);
    let mut worst = (0.0f32, 0);
    for (i, (g, c)) in gpu.iter().zip(cpu).enumerate() {
        let d = (g - c).abs();
        let d = if d.is_nan() { f32::INFINITY } else { d };
        if d > worst.0 {
            worst = (d, i);
        }
    }
    (worst.0 / scale, worst.1)
}

/// The worst error of each kernel so far, in the order the kernels were first met.
#[derive(Default)]
pub(super) struct Tally(pub(super) Vec<KernelParity>);

impl Tally {
    fn record(&mut self, kernel: &'static str, error: f32, case: impl FnOnce() -> String) {
        let at = match self.0.iter().position(|k| k.kernel == kernel) {
            Some(at) => at,
            None => {
                self.0.push(KernelParity { kernel, error: -1.0, worst_case: String::new() });
                self.0.len() - 1
            }
        };
        let entry = &mut self.0[at];
        if error > entry.error || error.is_nan() {
            entry.error = error;
            entry.worst_case = case();
        }
    }

    pub(super) fn close(
        &mut self,
        kernel: &'static str,
        gpu: &[f32],
        cpu: &[f32],
        case: impl FnOnce() -> String,
    ) {
        let (error, at) = relative_error(gpu, cpu);
        let values = |v: &[f32]| v.get(at).copied().unwrap_or(f32::NAN);
        self.record(kernel, error, || {
            format!("{} at [{at}]: gpu {}, cpu {}", case(), values(gpu), values(cpu))
        });
    }

    pub(super) fn exact<T: PartialEq>(
        &mut self,
        kernel: &'static str,
        gpu: &[T],
        cpu: &[T],
        case: impl FnOnce() -> String,
    ) {
        let mismatch = gpu.iter().zip(cpu).position(|(g, c)| g != c);
        let error = match mismatch {
            _ if gpu.len() != cpu.len() => f32::INFINITY,
            Some(_) => 1.0,
            None => 0.0,
        };
        self.record(kernel, error, || format!("{} (exact; first difference at {mismatch:?})", case()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_error_is_the_largest_difference_over_the_largest_value() {
        assert_eq!(relative_error(&[1.0, 2.0, 4.0], &[1.0, 2.0, 4.0]), (0.0, 0));
        assert_eq!(relative_error(&[1.0, 2.5, -4.0], &[1.0, 2.0, -4.0]), (0.125, 1));
        assert_eq!(relative_error(&[f32::NAN], &[1.0]).0, f32::INFINITY);
        assert_eq!(relative_error(&[1.0], &[1.0, 2.0]).0, f32::INFINITY);
    }

    #[test]
    fn a_tally_keeps_each_kernels_worst_case() {
        let mut tally = Tally::default();
        tally.close("a", &[1.0, 2.0], &[1.0, 2.0], || "exact".into());
        tally.close("a", &[1.0, 2.2], &[1.0, 2.0], || "off".into());
        tally.close("a", &[1.0, 2.1], &[1.0, 2.0], || "less off".into());
        tally.exact("b", &[1u32, 2], &[1, 3], || "mismatch".into());
        assert_eq!(tally.0.len(), 2);
        assert!((tally.0[0].error - 0.1).abs() < 1e-6 && tally.0[0].worst_case.starts_with("off"));
        assert_eq!((tally.0[1].kernel, tally.0[1].error), ("b", 1.0));
    }
}
