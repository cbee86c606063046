//! `--device` as a user types it: a value it does not take (`cuda`) gets a hint saying what it
//! takes, a software adapter asked for by `--device gpu` is named as one, and `bench` rows carry
//! the adapter index `--device N` takes.

mod common;

use common::sandbox::Sandbox;

const DATA: [&str; 7] =
    ["--dataset", "synthetic", "--no-download", "--limit-train", "64", "--limit-test", "16"];

#[test]
fn a_device_it_does_not_take_gets_a_hint_listing_what_it_takes() {
    let sandbox = Sandbox::new("device-cuda");
    for (command, device) in [("train", "cuda"), ("eval", "metal"), ("predict", "vulkan")] {
        let run = sandbox.run(&[command, "--device", device, "--model", "m.safetensors", "x.png"]);
        let run = if command == "train" { sandbox.run(&["train", "--device", device]) } else { run };
        let line = run.error_line(2, device);
        assert_eq!(
            line,
            format!(
                "error: invalid value '{device}' for '--device <DEVICE>': not a device: --device takes auto, cpu, gpu or an adapter index from `lenet devices`; wgpu picks the GPU API itself (Vulkan, Metal, DX12, GL; on an NVIDIA card Vulkan, as it has no CUDA backend), and WGPU_BACKEND=vulkan|metal|dx12|gl narrows it"
            )
        );
    }
}

#[test]
fn a_software_adapter_is_named_as_one_with_the_cpu_path_suggested() {
    let Some(gpu) = common::gpu() else { return };
    let sandbox = Sandbox::new("device-software");
    let run = sandbox.run(&[&["train", "--device", "gpu"], &DATA[..]].concat());
    assert!(run.success(), "{}", run.stderr);
    let note = format!(
        "note: {} is a software adapter: it runs the GPU kernels on this machine's CPU, where the CPU path is faster (--device cpu)",
        gpu.name()
    );
    assert_eq!(run.stderr.lines().any(|l| l == note), gpu.is_software(), "{note}:\n{}", run.stderr);
    let run = sandbox.run(&[&["train", "--device", "cpu"], &DATA[..]].concat());
    assert!(!run.stderr.contains("software adapter"), "{}", run.stderr);
}

#[test]
fn bench_rows_carry_the_adapter_index() {
    let sandbox = Sandbox::new("device-bench");
    let gpu = common::gpu().is_some();
    let device = if gpu { "all" } else { "cpu" };
    let json = sandbox.path("bench.json");
    let args =
        ["bench", "--device", device, "--steps", "1", "--warmup", "0", "--batch-size", "8", "--json", &json];
    let run = sandbox.run(&args);
    assert!(run.success(), "{}", run.stderr);
    let header = run.stdout.lines().next().unwrap();
    assert!(header.starts_with("#   device"), "{}", run.stdout);
    let figures: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let rows = figures["throughput"].as_array().unwrap();
    assert!(
        rows[0]["adapter"].is_null() && run.stdout.lines().nth(1).unwrap().starts_with("cpu CPU ("),
        "{}",
        run.stdout
    );
    for (i, row) in rows.iter().enumerate().skip(1) {
        assert_eq!(row["adapter"].as_u64(), Some(i as u64 - 1), "{row}");
        let line = run.stdout.lines().nth(i + 1).unwrap();
        assert!(line.starts_with(&format!("{:<3} {}", i - 1, row["device"].as_str().unwrap())), "{line}");
    }
    assert_eq!(rows.len() > 1, gpu, "{}", run.stdout);
}

/// `bench --device all` leaves out an adapter that cannot be opened, saying why, and measures
/// the rest; naming that adapter alone is an error. (Every adapter is made to fail here by an
/// unknown `LENET_GPU_BLOCKING`; on a real machine it was the GL twin of a Vulkan GPU.)
#[test]
fn bench_all_leaves_out_an_adapter_that_fails() {
    if common::gpu().is_none() {
        return;
    }
    let sandbox = Sandbox::new("device-bench-skip");
    let json = sandbox.path("bench.json");
    let args =
        ["bench", "--device", "all", "--steps", "1", "--warmup", "0", "--batch-size", "8", "--json", &json];
    let sideways = |args: &[&str]| {
        let mut cmd = sandbox.command(args);
        cmd.env("LENET_GPU_BLOCKING", "sideways");
        common::run_bounded(cmd, args)
    };
    let run = sideways(&args);
    assert!(run.success(), "{}", run.stderr);
    assert!(
        run.stderr.contains("warning: adapter 0 (")
            && run.stderr.contains("left out: GPU: LENET_GPU_BLOCKING=sideways"),
        "{}",
        run.stderr
    );
    let figures: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(figures["throughput"].as_array().unwrap().len(), 1, "{figures}");
    assert_eq!(figures["skipped"][0]["adapter"], 0, "{figures}");

    let alone = ["bench", "--device", "0", "--steps", "1", "--warmup", "0", "--batch-size", "8"];
    let run = sideways(&alone);
    assert!(!run.success() && run.stderr.contains("LENET_GPU_BLOCKING=sideways"), "{}", run.stderr);
}
