//! What `session.rs` needs beside the library: progress reported to Python (and a Ctrl-C
//! noticed) during an epoch, and the evaluation's loss.

use lenet_gpu::train::{Interrupt, Observer, Progress};
use pyo3::prelude::*;
use std::time::{Duration, Instant};

/// Mean softmax cross-entropy (in f64, by log-sum-exp) and the predicted classes.
pub fn loss_and_predictions(logits: &[f32], labels: &[u8], classes: usize) -> (f64, Vec<u8>) {
    let mut total = 0.0;
    let mut predictions = Vec::with_capacity(labels.len());
    for (row, &label) in logits.chunks_exact(classes).zip(labels) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum: f64 = row.iter().map(|&z| f64::from(z - max).exp()).sum();
        total += sum.ln() - f64::from(row[label as usize] - max);
        predictions.push(lenet_gpu::cpu::loss::argmax(row) as u8);
    }
    (total / labels.len().max(1) as f64, predictions)
}

/// Reports progress to Python about ten times a second, and notices a Ctrl-C meanwhile: it then
/// asks the engine to stop (`interrupt`), which it does after the step under way (the CPU path)
/// or the submissions queued (the GPU path), and the epoch ends with `Error::Interrupted`.
pub struct PyObserver {
    pub callback: Option<Py<PyAny>>,
    pub last: Option<Instant>,
    /// The exception to raise after the epoch (or instead of it, when it was interrupted).
    pub pending: Option<PyErr>,
    /// The session's interrupt, requested on Ctrl-C.
    pub interrupt: Option<Interrupt>,
}

impl Observer for PyObserver {
    fn progress(&mut self, p: Progress) {
        let now = Instant::now();
        if self.last.is_some_and(|t| now - t < Duration::from_millis(100)) {
            return;
        }
        self.last = Some(now);
        Python::attach(|py| {
            if self.pending.is_none()
                && let Err(e) = py.check_signals()
            {
                self.pending = Some(e);
                if let Some(interrupt) = &self.interrupt {
                    interrupt.request();
                }
            }
            if let Some(callback) = &self.callback
                && let Err(e) = callback.call1(py, (p.images_done, p.loss_sum, p.correct))
            {
                self.pending.get_or_insert(e);
                self.callback = None;
            }
        });
    }
}
