//! Learning-rate schedules and weight decay: what each optimizer update's learning rate is, from
//! the optimizer's base rate, the update's number and the run's length. Computed here, once per
//! update, for both paths: the CPU path passes it to its update, the GPU path writes it into
//! that step's uniform (`gpu::kernels::StepUniform`), so both use the same f32.
//!
//! The shapes follow PyTorch's schedulers stepped once per update (not per epoch):
//! - `constant`: the base rate;
//! - `step`: the base rate, a tenth of it from half-way through, a hundredth from three quarters
//!   (`MultiStepLR` with `gamma=0.1` and milestones at 1/2 and 3/4 of the updates after warmup);
//! - `cosine`: `CosineAnnealingLR` with `eta_min=0` and `T_max` the updates after warmup, from
//!   the base rate down towards 0 (its closed form; never restarting);
//! - `onecycle`: `OneCycleLR` with `max_lr` the base rate and its defaults (`div_factor=25`,
//!   `final_div_factor=1e4`, cosine annealing, two phases): up from a 25th of the base rate to it
//!   over the first 30% of the updates, or over the warmup when one is given, then down to
//!   1/250,000 of it. Unlike PyTorch's, momentum (SGD's, Adam's β1) is not cycled.
//!
//! A warmup of W updates (except for `onecycle`, whose rise it sets) first raises the rate
//! linearly, update t (from 0) getting (t + 1)/W of it (PyTorch's `LinearLR` with
//! `start_factor=1/W` over W updates, chained before the shape as `SequentialLR` would); the shape
//! then runs over the updates after it.

use super::optimizer::Optimizer;

/// The shape of a learning-rate schedule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ScheduleKind {
    #[default]
    Constant,
    Step,
    Cosine,
    OneCycle,
}

impl ScheduleKind {
    pub const ALL: [ScheduleKind; 4] =
        [ScheduleKind::Constant, ScheduleKind::Step, ScheduleKind::Cosine, ScheduleKind::OneCycle];

    /// Its name, as checkpoints record it.
    pub fn name(self) -> &'static str {
        match self {
            ScheduleKind::Constant => "constant",
            ScheduleKind::Step => "step",
            ScheduleKind::Cosine => "cosine",
            ScheduleKind::OneCycle => "onecycle",
        }
    }
}

impl std::fmt::Display for ScheduleKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for ScheduleKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ScheduleKind::ALL.into_iter().find(|k| k.name() == s).ok_or_else(|| {
            let names: Vec<&str> = ScheduleKind::ALL.iter().map(|k| k.name()).collect();
            format!("unknown schedule {s:?} (one of {})", names.join(", "))
        })
    }
}

/// A run's learning-rate schedule: its shape and its warmup, in updates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Schedule {
    pub kind: ScheduleKind,
    pub warmup: u64,
}

impl Schedule {
    /// Whether the rates depend on how many updates the run has in all (every shape but
    /// `constant`): such a run cannot be resumed with another number of epochs.
    pub fn shaped_by_length(&self) -> bool {
        self.kind != ScheduleKind::Constant
    }

    /// The learning rate of update `update` (counted from 0) of a run of `total` updates, for
    /// the base rate `lr`. The base rate itself, untouched, wherever the schedule gives it whole
    /// (a constant rate after any warmup), so the default schedule changes no number.
    pub fn rate(&self, lr: f32, update: u64, total: u64) -> f32 {
        let base = lr as f64;
        if self.kind == ScheduleKind::OneCycle {
            return one_cycle(base, update.min(total.saturating_sub(1)), total, self.warmup) as f32;
        }
        if update < self.warmup {
            return (base * (update + 1) as f64 / self.warmup as f64) as f32;
        }
        // The shape over the updates after the warmup: s of `span`.
        let span = total.saturating_sub(self.warmup).max(1);
        let s = (update - self.warmup).min(span - 1);
        match self.kind {
            ScheduleKind::Constant | ScheduleKind::OneCycle => lr,
            ScheduleKind::Step if 2 * s < span => lr,
            ScheduleKind::Step if 4 * s < 3 * span => (base * 0.1) as f32,
            ScheduleKind::Step => (base * 0.01) as f32,
            ScheduleKind::Cosine => {
                (base * (1.0 + (std::f64::consts::PI * s as f64 / span as f64).cos()) / 2.0) as f32
            }
        }
    }
}

/// PyTorch's `OneCycleLR._annealing_cos`: from `start` (pct 0) to `end` (pct 1).
fn anneal(start: f64, end: f64, pct: f64) -> f64 {
    end + (start - end) / 2.0 * ((std::f64::consts::PI * pct).cos() + 1.0)
}

/// `OneCycleLR.get_lr` at step `t` of `total`, `max_lr` = `base`, two phases, the first ending at
/// update `warmup - 1` (or, with no warmup, at PyTorch's `pct_start * total - 1`, 0.3).
fn one_cycle(base: f64, t: u64, total: u64, warmup: u64) -> f64 {
    let (initial, t) = (base / 25.0, t as f64);
    let min = initial / 1e4;
    let rise_end = if warmup > 0 { warmup as f64 } else { 0.3 * total as f64 } - 1.0;
    let end = total as f64 - 1.0;
    let pct = |from: f64, to: f64| if to > from { ((t - from) / (to - from)).min(1.0) } else { 1.0 };
    if t <= rise_end {
        anneal(initial, base, pct(0.0, rise_end))
    } else {
        anneal(base, min, pct(rise_end, end))
    }
}

/// What one update uses beyond the optimizer's fixed hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UpdateRates {
    /// The learning rate of this update (the schedule's).
    pub lr: f32,
    /// Decoupled for Adam (AdamW: p ← p·(1 − lr·wd) before the update); for SGD added to the
    /// gradient as L2 (g ← g + wd·p), as PyTorch's `SGD(weight_decay=...)` does.
    pub weight_decay: f32,
}

impl UpdateRates {
    /// The optimizer's own rate, without weight decay: every update before schedules existed.
    pub fn constant(optimizer: &Optimizer) -> UpdateRates {
        UpdateRates { lr: optimizer.lr(), weight_decay: 0.0 }
    }
}

/// How an engine sets each update's rates: the schedule over a run of `total_updates`, and the
/// weight decay. The default (constant, no decay) gives every update the optimizer's own rate.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct UpdateRule {
    pub schedule: Schedule,
    /// Updates in the whole run (epochs × steps per epoch); the shapes other than `constant`
    /// are drawn over it.
    pub total_updates: u64,
    pub weight_decay: f32,
}

impl UpdateRule {
    /// The rates of update `update` (counted from 0: the optimizer state's update count before
    /// it) for `optimizer`.
    pub fn rates(&self, optimizer: &Optimizer, update: u64) -> UpdateRates {
        UpdateRates {
            lr: self.schedule.rate(optimizer.lr(), update, self.total_updates),
            weight_decay: self.weight_decay,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ScheduleKind::*;

    fn rates(kind: ScheduleKind, warmup: u64, lr: f32, total: u64) -> Vec<f32> {
        (0..total).map(|t| Schedule { kind, warmup }.rate(lr, t, total)).collect()
    }

    fn close(got: &[f32], want: &[f64]) {
        assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            assert!((g as f64 - w).abs() <= 1e-6 * w.abs().max(1e-30), "update {i}: {g} vs {w} ({got:?})");
        }
    }

    #[test]
    fn constant_gives_the_base_rate_bit_for_bit() {
        for lr in [0.01f32, 0.001, 0.1234567] {
            assert!(rates(Constant, 0, lr, 7).iter().all(|r| r.to_bits() == lr.to_bits()));
            // Past the run's end (a page training on), still the rate.
            assert_eq!(Schedule::default().rate(lr, 1000, 7).to_bits(), lr.to_bits());
        }
        let rule = UpdateRule::default();
        let sgd = Optimizer::Sgd { lr: 0.01, momentum: 0.9 };
        assert_eq!(rule.rates(&sgd, 5), UpdateRates::constant(&sgd));
    }

    #[test]
    fn warmup_rises_linearly_then_holds() {
        close(&rates(Constant, 4, 1.0, 6), &[0.25, 0.5, 0.75, 1.0, 1.0, 1.0]);
        // The base rate exactly once warm.
        assert_eq!(rates(Constant, 4, 0.01, 6)[4].to_bits(), 0.01f32.to_bits());
    }

    #[test]
    fn step_divides_by_ten_at_half_and_three_quarters() {
        close(&rates(Step, 0, 1.0, 8), &[1.0, 1.0, 1.0, 1.0, 0.1, 0.1, 0.01, 0.01]);
        // With a warmup of 2, over the 8 updates after it.
        close(&rates(Step, 2, 1.0, 10), &[0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 0.1, 0.1, 0.01, 0.01]);
    }

    #[test]
    fn cosine_anneals_from_the_rate_towards_zero() {
        // CosineAnnealingLR(T_max=4): lr·(1 + cos(π·s/4))/2.
        let h = std::f64::consts::FRAC_1_SQRT_2;
        close(&rates(Cosine, 0, 1.0, 4), &[1.0, (1.0 + h) / 2.0, 0.5, (1.0 - h) / 2.0]);
        // After a warmup of 2: T_max = 4 as well.
        close(
            &rates(Cosine, 2, 0.1, 6),
            &[0.05, 0.1, 0.1, 0.1 * (1.0 + h) / 2.0, 0.05, 0.1 * (1.0 - h) / 2.0],
        );
    }

    #[test]
    fn onecycle_follows_pytorchs_onecyclelr() {
        // total 10: the rise ends at step 0.3·10 − 1 = 2, the fall at 9; initial 1/25, final
        // 1/25/1e4.
        let got = rates(OneCycle, 0, 1.0, 10);
        let fall = |pct: f64| 4e-6 + (1.0 - 4e-6) / 2.0 * ((std::f64::consts::PI * pct).cos() + 1.0);
        let want: Vec<f64> =
            [0.04, 0.52, 1.0].into_iter().chain((3..10).map(|t| fall((t as f64 - 2.0) / 7.0))).collect();
        close(&got, &want);
        assert!((got[9] as f64 - 4e-6).abs() < 1e-12);
        // A warmup of 3 sets the rise: the peak at update 2, half-way down at update 6 of 11.
        let got = rates(OneCycle, 3, 1.0, 11);
        close(&got[..3], &[0.04, 0.52, 1.0]);
        close(&got[6..7], &[fall(0.5)]);
    }

    #[test]
    fn names_round_trip_and_unknown_ones_are_refused() {
        for kind in ScheduleKind::ALL {
            assert_eq!(kind.name().parse::<ScheduleKind>(), Ok(kind));
        }
        let err = "linear".parse::<ScheduleKind>().unwrap_err();
        assert!(err.contains("constant, step, cosine, onecycle"), "{err}");
    }

    #[test]
    fn only_constant_is_free_of_the_runs_length() {
        assert!(!Schedule { kind: Constant, warmup: 100 }.shaped_by_length());
        for kind in [Step, Cosine, OneCycle] {
            assert!(Schedule { kind, warmup: 0 }.shaped_by_length());
        }
    }
}
