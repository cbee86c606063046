//! What a loss computation reports, on either path (`cpu::loss`, `shaders/loss.wgsl`).

/// What one batch's loss computation reports.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LossStats {
    /// Sum over the batch of each example's loss (divide by the batch size for the mean).
    pub loss_sum: f32,
    /// How many examples had their label as the highest logit.
    pub correct: u32,
}
