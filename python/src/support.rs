//! What `session.rs` needs beside the library: progress reported to Python during an epoch.

use lenet_gpu::session::{Observer, Progress};
use pyo3::prelude::*;
use std::time::{Duration, Instant};

/// Reports progress to Python about ten times a second (from the worker thread of
/// `errors::interruptible`, which notices a Ctrl-C meanwhile).
pub struct PyObserver {
    pub callback: Option<Py<PyAny>>,
    pub last: Option<Instant>,
    /// The callback's exception, to raise after the epoch.
    pub pending: Option<PyErr>,
}

impl Observer for PyObserver {
    fn progress(&mut self, p: Progress) {
        let now = Instant::now();
        if self.last.is_some_and(|t| now - t < Duration::from_millis(100)) {
            return;
        }
        self.last = Some(now);
        Python::attach(|py| {
            if let Some(callback) = &self.callback
                && let Err(e) = callback.call1(py, (p.images_done, p.loss_sum, p.correct))
            {
                self.pending.get_or_insert(e);
                self.callback = None;
            }
        });
    }
}
