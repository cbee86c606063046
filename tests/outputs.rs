//! The files commands write, tried through the CLI as a user types them: each output is checked
//! before any work (a directory in its place, a place where no file can be created, a wrong
//! extension), a side output failing later is a warning that loses nothing, links are written
//! through, and `-` is standard output. (The refusals' exact lines are in tests/errors.)

mod common;

use common::Run;
use common::sandbox::Sandbox;
use std::path::Path;

const DATA: [&str; 8] =
    ["--dataset", "synthetic", "--no-download", "--limit-train", "256", "--limit-test", "64", "--device"];

/// `lenet train` on a little synthetic data on the CPU path, with `args`.
fn train(sandbox: &Sandbox, args: &[&str]) -> Run {
    sandbox.run(&[&["train"], &DATA[..], &["cpu"], args].concat())
}

fn epoch_lines(run: &Run) -> usize {
    run.stdout.lines().chain(run.stderr.lines()).filter(|l| l.starts_with("epoch ")).count()
}

#[test]
fn a_plot_into_a_directory_is_refused_before_training_and_nothing_is_left() {
    let sandbox = Sandbox::new("plot-dir");
    std::fs::create_dir_all(sandbox.work.join("w")).unwrap();
    std::fs::create_dir_all(sandbox.work.join("d")).unwrap();
    let run = train(&sandbox, &["--epochs", "3", "--save", "w/m.safetensors", "--plot", "d"]);
    let line = run.error_line(1, "--plot d");
    assert_eq!(
        line,
        "error: cannot draw the curves in d: it is a directory; give a file name, e.g. d/curves.png"
    );
    assert_eq!(epoch_lines(&run), 0, "{}", run.stdout);
    assert!(std::fs::read_dir(sandbox.work.join("w")).unwrap().next().is_none(), "nothing saved");
    assert_eq!(sandbox.work.entries(), ["d", "w"]);
}

#[test]
fn save_where_no_file_can_be_created_names_the_path_typed() {
    let sandbox = Sandbox::new("save-proc");
    // A path under /proc: its directory exists, but no file can be created in it.
    let run = train(&sandbox, &["--save", "/proc/m.safetensors"]);
    let line = run.error_line(1, "--save under /proc");
    assert!(
        line.starts_with("error: cannot save to /proc/m.safetensors: a file cannot be created there"),
        "{line}"
    );
    assert!(!line.contains("optim"), "{line}");
    // A directory where the optimizer state goes: still the user's path first.
    std::fs::create_dir_all(sandbox.work.join("m.safetensors.optim.safetensors")).unwrap();
    let run = train(&sandbox, &["--save", "m.safetensors"]);
    let line = run.error_line(1, "optimizer file a directory");
    assert_eq!(
        line,
        "error: cannot save to m.safetensors: its optimizer state goes beside it, to m.safetensors.optim.safetensors, but it is a directory"
    );
    assert_eq!(epoch_lines(&run), 0);
    assert_eq!(sandbox.work.entries(), ["m.safetensors.optim.safetensors"]);
}

#[test]
fn every_output_is_checked_before_the_command_works() {
    let sandbox = Sandbox::new("outputs-first");
    std::fs::create_dir_all(sandbox.work.join("d")).unwrap();
    let image = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/0-gray.png");
    let image = image.to_str().unwrap();
    // Nothing these commands need exists (no model, no metrics file): the output is refused first.
    let cases: [(&[&str], &str); 13] = [
        (&["train", "--metrics", "d"], "cannot write the metrics to d: it is a directory"),
        (
            &["train", "--metrics", "m.txt"],
            "cannot write the metrics to m.txt: the file written there is CSV text: give a name ending in .csv, e.g. m.csv",
        ),
        (
            &["eval", "--model", "none.safetensors", "--confusion", "d"],
            "cannot draw the confusion matrix in d: it is a directory",
        ),
        (
            &["eval", "--model", "none.safetensors", "--shift-plot", "no/s.png"],
            "cannot draw the shift plot in no/s.png: the directory no does not exist",
        ),
        (
            &["show", "kernels", "--model", "none.safetensors", "-o", "d"],
            "cannot write the picture to d: it is a directory",
        ),
        (
            &["show", "curves", "none.csv", "-o", "/proc/c.png"],
            "cannot write the picture to /proc/c.png: a file cannot be created there",
        ),
        (
            &["convolve", image, "--kernel", "blur", "--out", "x.jpg"],
            "cannot write the picture to x.jpg: the file written there is a PNG picture: give a name ending in .png, e.g. x.png",
        ),
        (
            &["train", "--save", "model.pt"],
            "cannot save to model.pt: the file written there is a safetensors checkpoint (not PyTorch's pickle format): give a name ending in .safetensors, e.g. model.safetensors",
        ),
        (
            &["bench", "--device", "cpu", "--json", "b.txt"],
            "cannot write the figures to b.txt: the file written there is JSON: give a name ending in .json",
        ),
        (&["train", "--plot", "-"], "cannot draw the curves in -: `-` (standard output) cannot take it"),
        (
            &["eval", "--model", "none.safetensors", "--misclassified", "d"],
            "cannot draw the misclassified images in d: it is a directory; give a file name, e.g. d/misclassified.png",
        ),
        (
            &["predict", "--model", "none.safetensors", image, "--save-input", "no/seen"],
            "cannot write the 28x28 images in no/seen: the directory no does not exist",
        ),
        (
            &["predict", "--model", "none.safetensors", image, "--save-input", "-"],
            "cannot write the 28x28 images in -: `-` (standard output) cannot take them",
        ),
    ];
    for (args, expected) in cases {
        let run = sandbox.run(args);
        let line = run.error_line(1, &args.join(" "));
        assert!(line.starts_with(&format!("error: {expected}")), "{args:?}: {line}");
        assert_eq!(sandbox.work.entries(), ["d"], "{args:?}: nothing left");
    }
}

#[test]
fn a_side_output_failing_later_is_a_warning_and_the_model_is_saved() {
    if !Path::new("/dev/full").exists() {
        eprintln!("skipping: no /dev/full");
        return;
    }
    let sandbox = Sandbox::new("side-fails");
    // /dev/full takes the check (it exists), then fails every write with ENOSPC.
    let run = train(&sandbox, &["--epochs", "2", "--save", "m.safetensors", "--plot", "/dev/full"]);
    assert!(run.success(), "{}", run.stderr);
    assert_eq!(epoch_lines(&run), 2, "{}", run.stdout);
    let warnings: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with("warning:")).collect();
    assert_eq!(
        warnings,
        [
            "warning: the training curves were not drawn (training goes on): /dev/full: No space left on device (os error 28)"
        ],
        "one warning, not one an epoch"
    );
    assert!(run.stderr.contains("model saved to m.safetensors"), "{}", run.stderr);
    assert!(!run.stderr.contains("training curves drawn"), "{}", run.stderr);
    // The metrics file failing at its first write (its header) is a warning too, not the end.
    let run = train(
        &sandbox,
        &["--epochs", "1", "--save", "m2.safetensors", "--metrics", "/dev/full", "--plot", "c.png"],
    );
    assert!(run.success(), "{}", run.stderr);
    let warnings: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with("warning:")).collect();
    assert_eq!(warnings.len(), 1, "{}", run.stderr);
    assert!(
        warnings[0].starts_with("warning: the metrics file was not written (training goes on)"),
        "{}",
        warnings[0]
    );
    assert!(run.stderr.contains("model saved to m2.safetensors"), "{}", run.stderr);
    assert!(
        run.stderr.contains("training curves drawn in c.png"),
        "the curves are still drawn: {}",
        run.stderr
    );
    assert!(!run.stderr.contains("metrics written"), "{}", run.stderr);
    let eval = sandbox.run(&[
        "eval",
        "--model",
        "m.safetensors",
        "--dataset",
        "synthetic",
        "--limit-test",
        "64",
        "--device",
        "cpu",
        "--confusion",
        "/dev/full",
        "--misclassified",
        "/dev/full",
    ]);
    assert!(eval.success(), "{}", eval.stderr);
    assert!(
        eval.stderr.contains("warning: the misclassified images were not drawn: /dev/full: No space left"),
        "{}",
        eval.stderr
    );
    assert!(eval.stdout.contains("test accuracy"), "{}", eval.stdout);
    assert!(
        eval.stderr.contains("warning: the confusion matrix was not drawn: /dev/full: No space left"),
        "{}",
        eval.stderr
    );
}

#[cfg(unix)]
#[test]
fn links_are_written_through_and_dash_is_standard_output() {
    use std::os::unix::fs::symlink;
    let sandbox = Sandbox::new("links");
    let image = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/0-gray.png");
    let convolve = |out: &str| {
        sandbox.run(&["convolve", image.to_str().unwrap(), "--kernel", "blur", "--device", "cpu", "-o", out])
    };
    // A link to a file not there yet, then to one that is: the link stays, the file is written.
    symlink("target.png", sandbox.work.join("link.png")).unwrap();
    for _ in 0..2 {
        let run = convolve("link.png");
        assert!(run.success(), "{}", run.stderr);
        assert!(std::fs::symlink_metadata(sandbox.work.join("link.png")).unwrap().file_type().is_symlink());
        assert!(image::open(sandbox.work.join("target.png")).is_ok());
    }
    // A link to a device (here /dev/null, as /dev/stdout is one to a pipe): written in place.
    symlink("/dev/null", sandbox.work.join("null.png")).unwrap();
    let run = convolve("null.png");
    assert!(run.success(), "{}", run.stderr);
    assert!(std::fs::symlink_metadata(sandbox.work.join("null.png")).unwrap().file_type().is_symlink());
    assert!(!std::fs::metadata("/dev/null").unwrap().is_file(), "/dev/null is still a device");
    // /dev/stdout through a link of ours, and `-`: the PNG on standard output, the lines on stderr.
    symlink("/dev/stdout", sandbox.work.join("out.png")).unwrap();
    for out in ["out.png", "-"] {
        let run = convolve(out);
        assert!(run.success(), "{}", run.stderr);
        assert!(run.stdout.starts_with("\u{FFFD}PNG"), "{out}: a PNG on standard output");
        assert!(run.stderr.contains("kernel: blur"), "{out}: {}", run.stderr);
    }
    assert_eq!(sandbox.work.entries(), ["link.png", "null.png", "out.png", "target.png"], "no temporaries");

    // The metrics as CSV on standard output, the epoch lines on standard error.
    let run = train(&sandbox, &["--metrics", "-"]);
    assert!(run.success(), "{}", run.stderr);
    assert!(run.stdout.starts_with(lenet_gpu::metrics::HEADER), "{}", run.stdout);
    assert!(run.stdout.lines().skip(1).all(|l| l.starts_with("train,") || l.starts_with("test,")));
    assert!(run.stderr.contains("epoch 1/1"), "{}", run.stderr);
    // bench --json -: JSON alone on standard output.
    let run = sandbox.run(&["bench", "--device", "cpu", "--steps", "1", "--warmup", "0", "--json", "-"]);
    assert!(run.success(), "{}", run.stderr);
    let figures: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON on standard output");
    assert!(figures["throughput"].is_array());
    assert!(run.stderr.contains("train img/s"), "the table on stderr: {}", run.stderr);
}
