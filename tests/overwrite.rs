//! `train --save` never replaces another run's model without `--overwrite`: a re-run of the same
//! command is a new run, and is refused too; resuming saves back to its own file.

mod common;

use common::Run;
use common::sandbox::Sandbox;
use lenet_gpu::checkpoint;

const DATA: [&str; 9] = [
    "--dataset",
    "synthetic",
    "--no-download",
    "--limit-train",
    "256",
    "--limit-test",
    "64",
    "--device",
    "cpu",
];

fn train(sandbox: &Sandbox, args: &[&str]) -> Run {
    sandbox.run(&[&["train"], &DATA[..], args].concat())
}

fn run_id(sandbox: &Sandbox, name: &str) -> String {
    let metadata = checkpoint::read_metadata(&sandbox.work.join(name)).unwrap();
    metadata[checkpoint::RUN_ID].clone()
}

#[test]
fn a_new_run_refuses_to_replace_another_runs_model_unless_told() {
    let sandbox = Sandbox::new("overwrite");
    let first = train(&sandbox, &["--epochs", "2", "--lr", "0.05", "--save", "m.safetensors"]);
    assert!(first.success(), "{}", first.stderr);
    let kept = run_id(&sandbox, "m.safetensors");
    let accuracy: f64 =
        checkpoint::read_metadata(&sandbox.work.join("m.safetensors")).unwrap()["test_accuracy"]
            .parse()
            .unwrap();

    // The same command again is another run: refused before training, naming what the file holds.
    let again = train(&sandbox, &["--epochs", "2", "--lr", "0.05", "--save", "m.safetensors"]);
    let line = again.error_line(1, "re-run");
    let expected = format!(
        "error: m.safetensors: holds the model of another run, saved after epoch 2 with {:.2}% test accuracy; --overwrite replaces it, --resume m.safetensors continues that run, or --save another file",
        accuracy * 100.0
    );
    assert_eq!(line, expected);
    assert!(!again.stdout.contains("epoch "), "nothing trained: {}", again.stdout);
    assert_eq!(run_id(&sandbox, "m.safetensors"), kept, "the file is untouched");

    // --save-best onto it is refused alike.
    let best = train(&sandbox, &["--save", "n.safetensors", "--save-best", "m.safetensors"]);
    assert!(
        best.error_line(1, "--save-best").starts_with("error: m.safetensors: holds the model of another run")
    );

    // Resuming continues that run, saving back to it.
    let resumed = train(&sandbox, &["--epochs", "3", "--resume", "m.safetensors"]);
    assert!(resumed.success(), "{}", resumed.stderr);
    assert_eq!(run_id(&sandbox, "m.safetensors"), kept, "a resumed run keeps its id");

    // --overwrite replaces it with a new run.
    let replaced = train(&sandbox, &["--epochs", "1", "--save", "m.safetensors", "--overwrite"]);
    assert!(replaced.success(), "{}", replaced.stderr);
    assert_ne!(run_id(&sandbox, "m.safetensors"), kept);

    // A file that is no model is not replaced either; an empty one is.
    std::fs::write(sandbox.work.join("notes.safetensors"), b"my notes").unwrap();
    let notes = train(&sandbox, &["--save", "notes.safetensors"]);
    assert_eq!(
        notes.error_line(1, "notes"),
        "error: notes.safetensors: holds a file that is not a model of this run; --overwrite replaces it, --resume notes.safetensors continues that run, or --save another file"
    );
    assert_eq!(std::fs::read(sandbox.work.join("notes.safetensors")).unwrap(), b"my notes");
    std::fs::write(sandbox.work.join("empty.safetensors"), b"").unwrap();
    assert!(train(&sandbox, &["--save", "empty.safetensors"]).success());
}
