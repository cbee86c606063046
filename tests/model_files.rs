//! Model files given wrongly, tried through the CLI as a user types them: the optimizer file
//! beside a model (`m.safetensors.optim.safetensors`) is named for what it is, with the model
//! file to give instead, and no error names its path twice.

mod common;

use common::sandbox::Sandbox;

const DATA: [&str; 7] =
    ["--dataset", "synthetic", "--no-download", "--limit-train", "64", "--limit-test", "16"];

#[test]
fn the_optimizer_file_given_as_a_model_says_what_it_is_and_names_the_model_file() {
    let sandbox = Sandbox::new("optim-as-model");
    let train = sandbox.run(&[&["train", "--device", "cpu", "--save", "m.safetensors"], &DATA[..]].concat());
    assert!(train.success(), "{}", train.stderr);
    let optim = "m.safetensors.optim.safetensors";
    let said = "this is the optimizer state a training run saves beside its model (for resuming), not a model: give the model file, m.safetensors";
    let digit = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/7-tall.png");
    let cases: [(&str, Vec<&str>); 4] = [
        ("eval", [&["eval", "--model", optim, "--device", "cpu"], &DATA[..]].concat()),
        ("predict", vec!["predict", "--model", optim, "--device", "cpu", digit.to_str().unwrap()]),
        ("--init", [&["train", "--init", optim, "--device", "cpu"], &DATA[..]].concat()),
        ("summary", vec!["summary", "--model", optim]),
    ];
    for (case, args) in cases {
        let run = sandbox.run(&args);
        assert_eq!(run.error_line(1, case), format!("error: {optim}: {said}"), "{case}");
    }
    let run = sandbox.run(&[&["train", "--resume", optim, "--device", "cpu"], &DATA[..]].concat());
    assert_eq!(run.error_line(1, "--resume"), format!("error: cannot resume from {optim}: {said}"));
}

#[test]
fn no_error_names_its_path_twice() {
    let sandbox = Sandbox::new("path-once");
    let cases: [&[&str]; 5] = [
        &["train", "--resume", "x", "--device", "cpu"],
        &["train", "--init", "x", "--device", "cpu"],
        &["eval", "--model", "x", "--device", "cpu"],
        &["predict", "--model", "x", "y.png"],
        &["summary", "--model", "x"],
    ];
    for args in cases {
        let run = sandbox.run(args);
        let line = run.error_line(1, &args.join(" "));
        assert_eq!(line.matches("x:").count(), 1, "the path once: {line}");
    }
    let run = sandbox.run(&["train", "--resume", "x", "--device", "cpu"]);
    assert_eq!(
        run.error_line(1, "--resume x"),
        "error: cannot resume from x: No such file or directory (os error 2)"
    );
}
