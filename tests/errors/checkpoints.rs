//! Bad checkpoints (`eval`, `predict`, `train --resume`): each named, with what is wrong with it,
//! and none read into a huge allocation.

use super::{Case, Sandbox, check};
use crate::common::{TempDir, run_bounded, write};
use lenet_gpu::checkpoint;
use lenet_gpu::model::{Network, Parameters};
use safetensors::{Dtype, tensor::TensorView};
use std::collections::HashMap;
use std::process::{Command, Stdio};

/// A LeNet-5 checkpoint's tensors as safetensors bytes, with `edit` applied to the list first
/// (name, dtype, shape, bytes) and `metadata`.
fn checkpoint_bytes(
    edit: impl FnOnce(&mut Vec<(String, Dtype, Vec<usize>, Vec<u8>)>),
    metadata: Option<HashMap<String, String>>,
) -> Vec<u8> {
    let plan = Network::lenet5().plan().unwrap();
    let params = Parameters::init(&plan, 1);
    let mut tensors: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = params
        .views
        .iter()
        .map(|v| {
            let bytes =
                params.values[v.offset..v.offset + v.len].iter().flat_map(|x| x.to_le_bytes()).collect();
            (v.name.clone(), Dtype::F32, v.shape.clone(), bytes)
        })
        .collect();
    edit(&mut tensors);
    let views = tensors.iter().map(|(name, dtype, shape, bytes)| {
        (name.clone(), TensorView::new(*dtype, shape.clone(), bytes).unwrap())
    });
    safetensors::serialize(views, metadata).unwrap()
}

#[test]
fn bad_checkpoints_are_named_with_the_problem() {
    let files = TempDir::new("bad-checkpoints");
    let path = |name: &str, bytes: &[u8]| {
        let p = files.join(name);
        write(&p, bytes);
        p.to_str().unwrap().to_string()
    };
    let missing =
        path("missing.safetensors", &checkpoint_bytes(|t| t.retain(|(n, ..)| n != "fc3.bias"), None));
    let shape = path(
        "shape.safetensors",
        &checkpoint_bytes(
            |t| t.iter_mut().filter(|(n, ..)| n == "conv1.weight").for_each(|x| x.2 = vec![6, 25]),
            None,
        ),
    );
    let dtype = path(
        "dtype.safetensors",
        &checkpoint_bytes(
            |t| {
                let bias = t.iter_mut().find(|(n, ..)| n == "fc3.bias").unwrap();
                (bias.1, bias.2) = (Dtype::F16, vec![20]);
            },
            None,
        ),
    );
    let good = checkpoint_bytes(|_| {}, None);
    let mut garbled = good.clone();
    let header = 8 + u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    garbled[header / 2..header / 2 + 4].copy_from_slice(b"}}}}");
    let corrupt = path("corrupt.safetensors", &garbled);
    let truncated = path("truncated.safetensors", &good[..good.len() / 2]);
    let empty = path("empty.safetensors", b"");
    // Another architecture, without metadata (as PyTorch writes it): its shapes are wrong.
    let other_plan = "conv4k3,relu,maxpool2,dense10".parse::<Network>().unwrap().plan().unwrap();
    let other = files.join("other.safetensors");
    checkpoint::save(&other, &Parameters::init(&other_plan, 1), HashMap::new()).unwrap();
    let other = other.to_str().unwrap().to_string();
    // Another architecture recorded in the metadata, against an --arch that disagrees.
    let recorded = files.join("recorded.safetensors");
    let metadata = HashMap::from([("architecture".to_string(), "conv4k3,relu,maxpool2,dense10".to_string())]);
    checkpoint::save(&recorded, &Parameters::init(&other_plan, 1), metadata).unwrap();
    let recorded = recorded.to_str().unwrap().to_string();
    let unreadable = path(
        "unreadable.safetensors",
        &checkpoint_bytes(|_| {}, Some(HashMap::from([("architecture".into(), "conv6k5p2,blah".into())]))),
    );
    let dir = files.join("dir.safetensors");
    std::fs::create_dir(&dir).unwrap();
    let dir = dir.to_str().unwrap().to_string();

    let eval = |model: &str, extra: &[&str]| {
        let mut args: Vec<String> =
            ["eval", "--device", "cpu", "--dataset", "synthetic", "--limit-test", "50", "--model"]
                .map(String::from)
                .into();
        args.push(model.to_string());
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let row = |what, model: &str, words: &[&'static str]| Case {
        what,
        args: eval(model, &[]),
        code: 1,
        names: model.to_string(),
        words: words.to_vec(),
    };
    let mut cases = vec![
        row("a missing tensor", &missing, &["tensor fc3.bias is missing"]),
        row("a wrong shape", &shape, &["conv1.weight has shape [6, 25]", "[6, 1, 5, 5]"]),
        row("a wrong dtype", &dtype, &["fc3.bias is F16, expected F32"]),
        row("a corrupt header", &corrupt, &["not a safetensors checkpoint"]),
        row("a truncated file", &truncated, &["not a safetensors checkpoint"]),
        row("an empty file", &empty, &["not a safetensors checkpoint"]),
        row("another architecture", &other, &["has shape", "another architecture"]),
        row(
            "unreadable architecture metadata",
            &unreadable,
            &["\"architecture\" metadata is unreadable", "blah"],
        ),
        row("a directory", &dir, &["is a directory"]),
        Case {
            what: "an --arch the checkpoint contradicts",
            args: eval(&recorded, &["--arch", "lenet5"]),
            code: 1,
            names: recorded.clone(),
            words: vec!["does not match the architecture recorded"],
        },
    ];
    // Resuming needs the optimizer state beside the model.
    let saved = files.join("saved.safetensors");
    let saved_arg = saved.to_str().unwrap().to_string();
    let run = Sandbox::new("save").run(&[
        "train",
        "--device",
        "cpu",
        "--dataset",
        "synthetic",
        "--limit-train",
        "64",
        "--limit-test",
        "10",
        "--save",
        &saved_arg,
    ]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    std::fs::remove_file(checkpoint::optimizer_path(&saved)).unwrap();
    let missing = saved_arg;
    let mut args: Vec<String> = ["train", "--device", "cpu", "--dataset", "synthetic", "--limit-train", "64"]
        .map(String::from)
        .into();
    args.extend([
        "--epochs".into(),
        "2".into(),
        "--resume".into(),
        missing.clone(),
        "--save".into(),
        "{OUT}".into(),
    ]);
    cases.push(Case {
        what: "--resume without its optimizer file",
        args,
        code: 1,
        names: format!("{missing}.optim.safetensors"),
        words: vec!["not found", "lenet train --save"],
    });
    check(&cases);
}

#[test]
#[cfg(target_os = "linux")]
fn a_checkpoint_claiming_a_huge_network_is_refused_without_allocating_it() {
    // A few bytes whose metadata records a network of 794 million parameters (3 GB): the
    // loader must find its tensors missing before it allocates anything that size, here under
    // a 1.5 GB address-space limit that such an allocation would break.
    let files = TempDir::new("huge-arch");
    let metadata = HashMap::from([("architecture".to_string(), "dense1000000,dense10".to_string())]);
    let bias = vec![0u8; 40];
    let tensors = [("fc2.bias".to_string(), TensorView::new(Dtype::F32, vec![10], &bias).unwrap())];
    let model = files.join("huge.safetensors");
    write(&model, &safetensors::serialize(tensors, Some(metadata)).unwrap());
    let model = model.to_str().unwrap();
    let sandbox = Sandbox::new("huge-arch");
    let script = format!(
        "ulimit -v 1500000 && exec \"$0\" eval --device cpu --dataset synthetic --limit-test 10 --model '{model}'"
    );
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &script, env!("CARGO_BIN_EXE_lenet")])
        .current_dir(sandbox.work.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let run = run_bounded(cmd, &["eval", "--model", model]);
    let line = run.error_line(1, "a huge recorded network");
    assert!(line.contains(model) && line.contains("tensor fc1.weight is missing"), "{line}");
}
