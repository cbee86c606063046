//! Every file a command writes, checked before the command does any work (`check`): a directory
//! in its place, a missing directory, a place where no file can be created, a name whose extension
//! is not the format written there. `-` gives standard output to an output where that makes sense
//! (a command has at most one such); the command's own lines then go to standard error (`say!`).
//! An output that fails later besides the command's main one is a warning (`warn`), never the end
//! of the run.

use anyhow::{Result, bail};
use lenet_gpu::checkpoint;
use lenet_gpu::output::{self, Unwritable};
use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// What a command writes to a path.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// `train --save` (and its optimizer file beside it).
    Model,
    /// `train --save-best` (a model file alone).
    BestModel,
    /// `train --plot`.
    Curves,
    /// `train --metrics`.
    Metrics,
    /// `eval --confusion`.
    Confusion,
    /// `eval --shift-plot`.
    ShiftPlot,
    /// `eval --misclassified`.
    Gallery,
    /// The picture of `show` and `convolve` (`-o`).
    Picture,
    /// `bench --json`.
    Json,
}

impl Kind {
    /// The start of an error about it, before the path.
    fn cannot(self) -> &'static str {
        match self {
            Kind::Model => "cannot save to",
            Kind::BestModel => "cannot keep the best model in",
            Kind::Curves => "cannot draw the curves in",
            Kind::Metrics => "cannot write the metrics to",
            Kind::Confusion => "cannot draw the confusion matrix in",
            Kind::ShiftPlot => "cannot draw the shift plot in",
            Kind::Gallery => "cannot draw the misclassified images in",
            Kind::Picture => "cannot write the picture to",
            Kind::Json => "cannot write the figures to",
        }
    }

    /// The extension of the format written (None: any name).
    fn extension(self) -> Option<&'static str> {
        match self {
            // A `--save model.pt` would pass for PyTorch's pickle format, which it is not.
            Kind::Model | Kind::BestModel => Some("safetensors"),
            Kind::Metrics => Some("csv"),
            Kind::Json => Some("json"),
            Kind::Curves | Kind::Confusion | Kind::ShiftPlot | Kind::Gallery | Kind::Picture => Some("png"),
        }
    }

    /// A file name to suggest in a directory given instead of a file.
    fn example(self) -> &'static str {
        match self {
            Kind::Model => "lenet.safetensors",
            Kind::BestModel => "lenet.best.safetensors",
            Kind::Curves => "curves.png",
            Kind::Metrics => "metrics.csv",
            Kind::Confusion => "confusion.png",
            Kind::ShiftPlot => "shift.png",
            Kind::Gallery => "misclassified.png",
            Kind::Picture => "picture.png",
            Kind::Json => "bench.json",
        }
    }

    /// Why standard output cannot take it, if it cannot.
    fn not_to_stdout(self) -> Option<&'static str> {
        match self {
            Kind::Model => Some("a training checkpoint is two files (the model and its optimizer state)"),
            Kind::BestModel => Some("it is rewritten whenever an epoch beats the best"),
            Kind::Curves => Some("the curves are redrawn after every epoch"),
            Kind::Confusion | Kind::ShiftPlot | Kind::Gallery => Some("`lenet eval` prints its report there"),
            Kind::Metrics | Kind::Picture | Kind::Json => None,
        }
    }
}

static STDOUT_TAKEN: AtomicBool = AtomicBool::new(false);

/// Whether an output is standard output (`-`), so that the command's lines go to standard error.
pub fn stdout_taken() -> bool {
    STDOUT_TAKEN.load(Ordering::Relaxed)
}

/// `println!`, or `eprintln!` when standard output is an output of the command (`-`).
macro_rules! say {
    ($($arg:tt)*) => {
        if $crate::outputs::stdout_taken() { eprintln!($($arg)*) } else { println!($($arg)*) }
    };
}
pub(crate) use say;

/// A path as messages name it: `-` is standard output.
pub fn name(path: &Path) -> String {
    match output::is_stdout(path) {
        true => "standard output".into(),
        false => path.display().to_string(),
    }
}

/// Checks, before any work, that each output given can be written, by creating it (and removing
/// what it created): the first that cannot is an error naming the path as given.
pub fn check(outputs: &[(Kind, Option<&Path>)]) -> Result<()> {
    let given = outputs.iter().filter_map(|&(kind, path)| Some((kind, path?)));
    for (kind, path) in given {
        let cannot = |problem: String| format!("{} {}: {problem}", kind.cannot(), path.display());
        if output::is_stdout(path) {
            if let Some(why) = kind.not_to_stdout() {
                bail!(cannot(format!("`-` (standard output) cannot take it: {why}; give a file name")));
            }
            if kind.extension() == Some("png") && std::io::stdout().is_terminal() {
                bail!(cannot(format!(
                    "standard output is a terminal: redirect it to a file (> {}) or give a file name",
                    kind.example()
                )));
            }
            STDOUT_TAKEN.store(true, Ordering::Relaxed);
            continue;
        }
        if writes_to_stdout(path) {
            STDOUT_TAKEN.store(true, Ordering::Relaxed); // `/dev/stdout`, say
        }
        if let Some(expected) = kind.extension()
            && let Err(problem) = output::check_extension(path, expected)
        {
            let suggestion = path.with_extension(expected);
            bail!(cannot(format!("{problem}, e.g. {}", suggestion.display())));
        }
        output::probe(path).map_err(|problem| anyhow::anyhow!(cannot(words(&problem, path, kind))))?;
        if kind == Kind::Model {
            let optim = checkpoint::optimizer_path(path);
            output::probe(&optim).map_err(|problem| {
                let at = optim.display();
                anyhow::anyhow!(cannot(format!("its optimizer state goes beside it, to {at}, but {problem}")))
            })?;
        }
    }
    Ok(())
}

/// Checks, before any work, that the files `names` can be written in the directory `dir` (`what`
/// they are, for the error: "cannot write {what} in DIR: ..."), as `check` checks a file: `dir`
/// may not exist yet if its parent does (the command creates it).
pub fn check_directory(what: &str, dir: &Path, names: &[String]) -> Result<()> {
    let cannot = |problem: String| format!("cannot write {what} in {}: {problem}", dir.display());
    if output::is_stdout(dir) {
        bail!(cannot(
            "`-` (standard output) cannot take them: they are a file each; give a directory".into()
        ));
    }
    output::probe_directory(dir, names).map_err(|(path, problem)| {
        let problem = match problem {
            Unwritable::NotADirectory(d) if d == dir => "it is a file, not a directory".to_string(),
            other if path == dir => other.to_string(),
            other => format!("{}: {other}", path.display()),
        };
        anyhow::anyhow!(cannot(problem))
    })
}

/// Whether `path` is the file standard output writes to (`/dev/stdout`, a file it is redirected
/// to).
fn writes_to_stdout(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd;
        use std::os::unix::fs::MetadataExt;
        let Ok(stdout) = std::io::stdout().as_fd().try_clone_to_owned() else { return false };
        let (Ok(ours), Ok(theirs)) = (std::fs::File::from(stdout).metadata(), std::fs::metadata(path)) else {
            return false;
        };
        (ours.dev(), ours.ino()) == (theirs.dev(), theirs.ino())
    }
    #[cfg(not(unix))]
    false
}

/// Why `path` cannot take an output of `kind`.
fn words(problem: &Unwritable, path: &Path, kind: Kind) -> String {
    match problem {
        Unwritable::IsDirectory => {
            format!("it is a directory; give a file name, e.g. {}", path.join(kind.example()).display())
        }
        other => other.to_string(),
    }
}

/// Says that an output besides the command's main one could not be written: the run goes on.
pub fn warn(e: &anyhow::Error) {
    eprintln!("warning: {}", super::hints::explain(e));
}
