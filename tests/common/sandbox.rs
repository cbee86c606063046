//! A scratch place to run `lenet` in, and the one "error:" line of a clean failure.

use super::{Run, TempDir, lenet_command, run_bounded};
use std::process::Command;

impl Run {
    /// The one "error:" line of a clean failure with exit status `code`.
    pub fn error_line(&self, code: i32, case: &str) -> &str {
        assert_eq!(
            self.code,
            Some(code),
            "{case}: exit status\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        assert!(!self.stderr.contains("panicked"), "{case}: a panic:\n{}", self.stderr);
        let errors: Vec<&str> = self.stderr.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "{case}: one error line:\n{}", self.stderr);
        errors[0]
    }
}

/// A scratch directory to run in, with an empty data directory and a mirror nobody answers.
pub struct Sandbox {
    pub work: TempDir,
    pub data: TempDir,
}

impl Sandbox {
    pub fn new(tag: &str) -> Sandbox {
        Sandbox { work: TempDir::new(&format!("{tag}-work")), data: TempDir::new(&format!("{tag}-data")) }
    }

    /// `lenet` with `args`, run in the work directory, as `run_bounded` wants it.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = lenet_command(args);
        cmd.current_dir(self.work.path())
            .env("LENET_DATA_DIR", self.data.path())
            .env("LENET_MNIST_MIRROR", "http://127.0.0.1:9/");
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        run_bounded(self.command(args), args)
    }

    /// `name` in the work directory, as an argument.
    pub fn path(&self, name: &str) -> String {
        self.work.join(name).to_str().expect("UTF-8 temp path").to_string()
    }
}
