//! The library's typed errors as Python exceptions, and the boundary every call crosses: a
//! panic there becomes a `RuntimeError`, never an abort that would kill a notebook's kernel.

use lenet_gpu::Error;
use lenet_gpu::session::Interrupt;
use pyo3::exceptions::{
    PyConnectionError, PyFileNotFoundError, PyIsADirectoryError, PyMemoryError, PyOSError, PyPermissionError,
    PyRuntimeError, PyValueError,
};
use pyo3::{PyErr, Python, create_exception};
use std::io::ErrorKind;
use std::panic::{AssertUnwindSafe, catch_unwind};

create_exception!(
    lenet_gpu,
    GpuError,
    PyRuntimeError,
    "The GPU could not be used, or failed: no adapter, a device error, a lost device."
);
create_exception!(
    lenet_gpu,
    DivergedError,
    pyo3::exceptions::PyArithmeticError,
    "Training produced a non-finite loss: try a lower learning rate."
);

/// The Python exception for a library error, with the library's message.
pub fn to_py(error: Error) -> PyErr {
    exception_for(&error)(error.to_string())
}

/// The exception type that fits `error`, as a constructor.
fn exception_for(error: &Error) -> fn(String) -> PyErr {
    match error {
        Error::Io { cause, .. } => match cause.kind() {
            ErrorKind::NotFound => |m| PyFileNotFoundError::new_err(m),
            ErrorKind::PermissionDenied => |m| PyPermissionError::new_err(m),
            ErrorKind::IsADirectory => |m| PyIsADirectoryError::new_err(m),
            _ => |m| PyOSError::new_err(m),
        },
        Error::DataMissing { .. } => |m| PyFileNotFoundError::new_err(m),
        Error::WouldOverwrite { .. } => |m| pyo3::exceptions::PyFileExistsError::new_err(m),
        Error::Download(_) => |m| PyConnectionError::new_err(m),
        Error::Gpu(_) => |m| GpuError::new_err(m),
        Error::Diverged(_) => |m| DivergedError::new_err(m),
        Error::NotEnoughMemory { .. } => |m| PyMemoryError::new_err(m),
        // The wrapped error decides the kind; the message keeps the context.
        Error::During { cause, .. } | Error::SaveFailed { cause, .. } => exception_for(cause),
        Error::Drawing(_) => |m| PyRuntimeError::new_err(m),
        Error::Interrupted { .. } | Error::InferenceInterrupted { .. } => {
            |m| pyo3::exceptions::PyKeyboardInterrupt::new_err(m)
        }
        Error::BadData { .. }
        | Error::Network(_)
        | Error::ArchitectureMismatch { .. }
        | Error::CannotResume { .. }
        | Error::InvalidArgument(_) => |m| PyValueError::new_err(m),
    }
}

/// A `ValueError` with this message.
pub fn value_error(message: impl Into<String>) -> PyErr {
    PyValueError::new_err(message.into())
}

/// Runs `f`, turning a panic into a `RuntimeError` (the default hook has already printed it).
pub fn guarded<T>(f: impl FnOnce() -> Result<T, PyErr>) -> Result<T, PyErr> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let why = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".into());
        Err(PyRuntimeError::new_err(format!("internal error in lenet_gpu (a bug: please report it): {why}")))
    })
}

/// Holds a value that is not `Send` so that it can cross `Python::detach`.
struct AssertSend<T>(T);
// SAFETY: `detach` runs its closure on the calling thread, and the value never leaves it; what the
// closure borrows is borrowed from PyO3 (`&mut` to a `Session`: see its `Send` note), so no other
// thread reaches it meanwhile.
unsafe impl<T> Send for AssertSend<T> {}

impl<T> AssertSend<T> {
    fn into_inner(self) -> T {
        self.0
    }
}

/// Runs `f` with the GIL released (other Python threads run meanwhile), panics caught.
pub fn detached<T>(py: Python<'_>, f: impl FnOnce() -> Result<T, PyErr>) -> Result<T, PyErr> {
    let f = AssertSend(f);
    let out = py.detach(move || {
        let f = f.into_inner();
        AssertSend(guarded(f))
    });
    out.into_inner()
}

/// How often the main thread looks for a Ctrl-C while `interruptible` work runs.
const SIGNAL_POLL: std::time::Duration = std::time::Duration::from_millis(20);

/// Runs `f` with the GIL released on a worker thread, while this thread (Python's main thread,
/// the only one that sees signals) looks for a Ctrl-C every 20 ms: on one it requests
/// `interrupt`, which the work checks between steps or pieces of inference, and returns the
/// KeyboardInterrupt beside the work's result. So a Ctrl-C is noticed at once, not when the work
/// next reports progress. Panics are caught as in `detached`.
pub fn interruptible<T>(
    py: Python<'_>,
    interrupt: &Interrupt,
    f: impl FnOnce() -> Result<T, PyErr>,
) -> (Result<T, PyErr>, Option<PyErr>) {
    interrupt.clear();
    let f = AssertSend(f);
    std::thread::scope(|scope| {
        // SAFETY (of moving `f` across): what it borrows is the `Session` this thread holds
        // `&mut` to and does not touch until the worker ends (see `Session`'s `Send` note).
        let worker = scope.spawn(move || {
            let f = f.into_inner();
            AssertSend(guarded(f))
        });
        let mut signal = None;
        while !worker.is_finished() {
            py.detach(|| std::thread::sleep(SIGNAL_POLL));
            if signal.is_none()
                && let Err(e) = py.check_signals()
            {
                interrupt.request();
                signal = Some(e);
            }
        }
        let out = worker.join().map_or_else(
            |_| Err(PyRuntimeError::new_err("internal error in lenet_gpu: the worker thread died")),
            AssertSend::into_inner,
        );
        (out, signal)
    })
}
