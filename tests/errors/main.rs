//! Every bad input of docs/errors.md, given to the `lenet` binary as a user would: each must end
//! the run with exit status 1 (2 where the argument parser rejects it), exactly one "error:" line
//! naming the file at fault and saying what is wrong, no panic, and no output file, whole or
//! partial. A module per section of docs/errors.md: data files, image files, checkpoints,
//! arguments. (What happens when a run goes wrong midway is in tests/crash_safety.rs.)

#[path = "../common/mod.rs"]
mod common;

mod arguments;
mod checkpoints;
mod data;
mod images;

use common::sandbox::Sandbox;

/// One row of docs/errors.md: a command that must fail with `code`, its error line naming
/// `names` and holding each of `words`.
pub struct Case {
    pub what: &'static str,
    pub args: Vec<String>,
    pub code: i32,
    pub names: String,
    pub words: Vec<&'static str>,
}

/// Runs each case in its own sandbox (so an output file can be looked for), checking the
/// error line and that nothing was written.
pub fn check(cases: &[Case]) {
    for c in cases {
        let sandbox = Sandbox::new("bad");
        let out = sandbox.path("out");
        let args: Vec<String> = c.args.iter().map(|a| a.replace("{OUT}", &out)).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = sandbox.run(&args);
        let line = run.error_line(c.code, c.what);
        assert!(line.contains(&c.names), "{}: the error names {}: {line}", c.what, c.names);
        for word in &c.words {
            assert!(line.contains(word), "{}: the error says {word:?}: {line}", c.what);
        }
        assert!(!run.stdout.contains("epoch 1/"), "{}: nothing was trained:\n{}", c.what, run.stdout);
        assert_eq!(sandbox.work.entries(), Vec::<String>::new(), "{}: nothing written", c.what);
    }
}
