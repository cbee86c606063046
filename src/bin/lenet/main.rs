//! `lenet`: train, evaluate and inspect LeNet-5 on MNIST. Each command parses its arguments,
//! calls the library (`lenet_gpu::session` above all) and prints; `hints` turns the library's
//! typed errors and notices into messages that name the flags to change.

mod args;
mod bench;
mod best;
mod convolve;
mod devices;
mod download;
mod eval;
mod figures;
mod hints;
mod outputs;
mod predict;
mod predict_inputs;
mod progress;
mod settings;
mod show;
mod summary;
mod target;
mod train;

use args::{Cli, Command};
use std::path::PathBuf;
use std::process::ExitCode;

/// A command stopped at the user's request (Ctrl-C), having said what it leaves.
#[derive(Debug)]
struct Stopped;

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "stopped")
    }
}

impl std::error::Error for Stopped {}

/// Mesa's drivers print "error: XDG_RUNTIME_DIR is invalid" when that variable is unset (as on
/// headless machines and in CI), which reads like our error. Point it at a private directory made
/// for this run; returns it, to be removed at exit.
fn give_mesa_a_runtime_dir() -> Option<PathBuf> {
    #[cfg(unix)]
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        use std::os::unix::fs::DirBuilderExt;
        let dir = std::env::temp_dir().join(format!("lenet-runtime-{}", std::process::id()));
        if std::fs::DirBuilder::new().mode(0o700).create(&dir).is_ok() {
            // SAFETY: called from main before any other thread exists.
            unsafe { std::env::set_var("XDG_RUNTIME_DIR", &dir) };
            return Some(dir);
        }
    }
    None
}

/// Rust ignores SIGPIPE, so a print to a pipe whose reader has gone (`lenet summary | head -3`)
/// panics; restoring the default action ends the process quietly there, as Unix tools do. (Socket
/// writes are unaffected: std sends with MSG_NOSIGNAL.)
fn end_quietly_when_the_reader_goes() {
    #[cfg(unix)]
    // SAFETY: called from main before any other thread exists; SIG_DFL is a valid action.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() -> ExitCode {
    end_quietly_when_the_reader_goes();
    // --help, or bad arguments, end here, before anything is made.
    let cli = match Cli::parse_or_explain() {
        Ok(cli) => cli,
        Err(status) => return status,
    };
    let runtime_dir = give_mesa_a_runtime_dir();
    let result = match cli.command {
        Command::Train(args) => train::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Summary(args) => summary::run(args),
        Command::Download(args) => download::run(args),
        Command::Devices => devices::run(),
        Command::Bench(args) => bench::run(args),
        Command::Predict(args) => predict::run(args),
        Command::Convolve(args) => convolve::run(args),
        Command::Show(args) => show::run(args),
    };
    if let Some(dir) = runtime_dir {
        let _ = std::fs::remove_dir_all(dir);
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // Said already; 130 is what a shell reports for a process stopped by Ctrl-C.
        Err(e) if e.is::<Stopped>() => ExitCode::from(130),
        Err(e) => {
            eprintln!("error: {}", hints::explain(&e));
            ExitCode::FAILURE
        }
    }
}
