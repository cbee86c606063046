//! Sizing a piece of work to a time budget from how long the last piece took: the GPU path's
//! submissions (about 0.1 s of GPU work each) and a web page's slices of CPU work (a fraction of
//! a frame) follow the same rule.

/// How much a piece may grow over the one it is sized from (a shrink is taken at once).
pub const MAX_GROWTH: usize = 4;

/// Items (steps, images) for the next piece to take about `target_seconds`, given that the last
/// `done` items took `seconds`; at most `MAX_GROWTH` times `grow_from`, and at least 1. A time too
/// short to measure grows by the most allowed.
pub fn items_for(target_seconds: f64, done: usize, seconds: f64, grow_from: usize) -> usize {
    let most = grow_from.saturating_mul(MAX_GROWTH).max(1);
    if !(seconds.is_finite() && seconds > 0.0) {
        return most;
    }
    let per_item = seconds / done.max(1) as f64;
    ((target_seconds / per_item).round() as usize).clamp(1, most)
}
