//! Stopping training early, on request from anywhere.

/// A request to stop training early, shared between whoever asks (a signal handler, a page's
/// stop button, a notebook's interrupt) and the engine, which checks it between steps (the CPU
/// path) or before queueing a submission (the GPU path, so it stops within about two
/// submissions). An epoch stopped so ends with `Error::Interrupted`; the parameters then hold
/// every step completed before it.
#[derive(Clone, Debug, Default)]
pub struct Interrupt(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Interrupt {
    pub fn new() -> Interrupt {
        Interrupt::default()
    }

    /// Asks training to stop (from any thread).
    pub fn request(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn requested(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Withdraws the request, before training again.
    pub fn clear(&self) {
        self.0.store(false, std::sync::atomic::Ordering::Relaxed);
    }
}
