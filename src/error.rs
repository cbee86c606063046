//! The library's error type. The binary wraps it in `anyhow` for context; the library never panics
//! on bad input, it returns one of these with a message a person can act on.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A data file exists but is not what it should be (bad magic, wrong length, ...).
    #[error("{}: {problem}", path.display())]
    BadData { path: PathBuf, problem: String },

    /// Reading or writing a file failed. The I/O error is part of the message (and so not
    /// also returned as `source()`, which would make error chains print it twice).
    #[error("{}: {cause}", path.display())]
    Io { path: PathBuf, cause: std::io::Error },

    /// A network whose layers do not chain, or an unsupported layer configuration.
    #[error("invalid network: {0}")]
    Network(String),

    /// Fetching data from the network failed (no connection, bad status, checksum mismatch).
    #[error("download failed: {0}")]
    Download(String),

    /// The GPU could not be used: no adapter, a device error, a validation error.
    #[error("GPU: {0}")]
    Gpu(String),

    /// Training produced a non-finite loss.
    #[error("training diverged: {0}")]
    Diverged(String),

    /// An argument out of its valid range (batch size 0, NaN learning rate, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// A figure could not be drawn (see `viz`).
    #[error("drawing the figure failed: {0}")]
    Drawing(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        // The system's words ("Is a directory (os error 21)") leave the user guessing which
        // argument was wrong: say it plainly.
        let cause = if source.kind() == std::io::ErrorKind::IsADirectory {
            std::io::Error::new(source.kind(), "is a directory, where a file was expected")
        } else {
            source
        };
        Error::Io { path: path.into(), cause }
    }

    pub fn bad_data(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        Error::BadData { path: path.into(), problem: problem.into() }
    }
}
