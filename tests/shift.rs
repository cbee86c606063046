//! `lenet eval --shift/--shift-plot/--confusion`: shifting images by hand-checked examples, the
//! unshifted grid cell equal to plain evaluation on both paths, and the command's table and
//! pictures.

mod common;

use common::{Run, TempDir, run_lenet};
use lenet_gpu::cpu::engine::CpuEngine;
use lenet_gpu::cpu::optimizer::Optimizer;
use lenet_gpu::data::{Dataset, synthetic};
use lenet_gpu::gpu::engine::GpuEngine;
use lenet_gpu::invariance::{ShiftGrid, evaluate_shifts, shift_dataset, shift_image};
use lenet_gpu::model::{Network, Parameters};
use lenet_gpu::train::{self, Engine, Evaluation, Quiet, TrainConfig};
use std::path::Path;

const SGD: Optimizer = Optimizer::Sgd { lr: 0.01, momentum: 0.9 };

#[test]
fn shifting_moves_pixels_right_and_down_and_fills_with_zeros() {
    #[rustfmt::skip]
    let image = [
        1, 2, 3,
        4, 5, 6,
        7, 8, 9,
    ];
    assert_eq!(shift_image(&image, 3, 3, 0, 0), image);
    assert_eq!(shift_image(&image, 3, 3, 1, 0), [0, 1, 2, 0, 4, 5, 0, 7, 8], "one right");
    assert_eq!(shift_image(&image, 3, 3, 0, -1), [4, 5, 6, 7, 8, 9, 0, 0, 0], "one up");
    assert_eq!(shift_image(&image, 3, 3, -2, 1), [0, 0, 0, 3, 0, 0, 6, 0, 0], "two left, one down");
    assert_eq!(shift_image(&image, 3, 3, 3, 0), [0; 9], "all the way out");
    // Not square: 2 rows of 3.
    assert_eq!(shift_image(&[1, 2, 3, 4, 5, 6], 2, 3, 1, 1), [0, 0, 0, 0, 1, 2]);
    let data = Dataset::gray([image, image].concat(), vec![3, 7], 3, 3);
    let moved = shift_dataset(&data, -1, 0);
    assert_eq!(moved.labels, data.labels);
    assert_eq!(moved.image(1), [2, 3, 0, 5, 6, 0, 8, 9, 0]);
}

#[test]
fn the_grid_is_indexed_by_dx_and_dy_and_summarized_by_distance() {
    assert_eq!(
        ShiftGrid::shifts(1),
        [(-1, -1), (0, -1), (1, -1), (-1, 0), (0, 0), (1, 0), (-1, 1), (0, 1), (1, 1)]
    );
    let grid = ShiftGrid { max: 1, accuracy: vec![0.1, 0.2, 0.3, 0.4, 0.9, 0.6, 0.7, 0.8, 0.5] };
    assert_eq!((grid.at(0, 0), grid.at(1, -1), grid.at(-1, 1)), (0.9, 0.3, 0.7));
    let rings = grid.rings();
    assert_eq!(rings.len(), 2);
    assert_eq!((rings[0].shifts, rings[0].mean, rings[0].worst), (1, 0.9, 0.9));
    assert_eq!((rings[1].shifts, rings[1].worst, rings[1].worst_at), (8, 0.1, (-1, -1)));
    assert!((rings[1].mean - 3.6 / 8.0).abs() < 1e-12);
}

/// A LeNet-5 trained briefly on synthetic digits, so accuracy means something.
fn trained(seed: u64) -> (Parameters, lenet_gpu::data::Split) {
    let split = synthetic::generate(640, 200, seed);
    let plan = Network::lenet5().plan().unwrap();
    let mut cpu = CpuEngine::new(plan.clone(), Parameters::init(&plan, seed), SGD);
    let config = TrainConfig { epochs: 1, batch_size: 32, optimizer: SGD, seed, ..Default::default() };
    train::fit(&mut cpu, &split, &config, &mut Quiet).unwrap();
    (cpu.parameters().unwrap(), split)
}

#[test]
fn no_shift_is_plain_evaluation_on_both_paths() {
    let (params, split) = trained(9);
    let plan = Network::lenet5().plan().unwrap();
    let mut cpu = CpuEngine::new(plan.clone(), params.clone(), SGD);
    let plain = train::evaluate(&mut cpu, &split.test).unwrap().accuracy();
    let mut calls = Vec::new();
    let grid =
        evaluate_shifts(&mut cpu, &split.test, 1, &mut |done, total| calls.push((done, total))).unwrap();
    assert_eq!(calls, (1..=9).map(|d| (d, 9)).collect::<Vec<_>>());
    assert_eq!(grid.at(0, 0), plain);
    assert_eq!(evaluate_shifts(&mut cpu, &split.test, 0, &mut |_, _| {}).unwrap().accuracy, [plain]);
    // Each cell is the accuracy on the shifted copy.
    let moved = shift_dataset(&split.test, 1, -1);
    assert_eq!(grid.at(1, -1), train::evaluate(&mut cpu, &moved).unwrap().accuracy());

    let Some(gpu) = common::gpu() else { return };
    let mut gpu = GpuEngine::new(gpu, plan, &params, SGD).unwrap();
    let on_gpu = evaluate_shifts(&mut gpu, &split.test, 1, &mut |_, _| {}).unwrap();
    for (g, c) in on_gpu.accuracy.iter().zip(&grid.accuracy) {
        assert!((g - c).abs() <= 1.0 / split.test.len() as f64, "GPU {g} vs CPU {c}");
    }
}

#[test]
fn the_confusion_heat_map_is_a_png_of_the_right_size() {
    let labels = [0u8, 1, 2, 2, 1, 0, 2];
    let predicted = [0u8, 1, 2, 1, 1, 2, 2];
    let evaluation = Evaluation::from_predictions(&labels, &predicted, 3);
    let digit = |c: usize| c.to_string();
    let small = lenet_gpu::viz::confusion::draw(&evaluation, &digit).unwrap();
    let evaluation = Evaluation::from_predictions(&labels, &predicted, 10);
    let ten = lenet_gpu::viz::confusion::draw(&evaluation, &digit).unwrap();
    let image = image::load_from_memory(&ten.png().unwrap()).unwrap();
    assert_eq!((image.width(), image.height()), (ten.width, ten.height));
    // Seven more rows of 48-pixel cells.
    assert_eq!(ten.height - small.height, 7 * 48);
    // CIFAR-10's names: wider than a cell, so the columns' stand upright above the grid, and the
    // rows' push the grid right; the grid itself is the same.
    let cifar = |c: usize| lenet_gpu::data::cifar::CLASSES[c].to_string();
    let named = lenet_gpu::viz::confusion::draw(&evaluation, &cifar).unwrap();
    let widest = lenet_gpu::viz::text_size("automobile", 12).0;
    assert_eq!(named.width - ten.width, widest - lenet_gpu::viz::text_size("9", 12).0);
    assert_eq!(named.height - ten.height, widest + 4 - 12);
}

fn lenet(args: &[&str], dir: &Path) -> Run {
    let args = [args, &["--dataset", "synthetic", "--no-download", "--limit-test", "100"]].concat();
    run_lenet(&args, |cmd| {
        cmd.current_dir(dir).env("LENET_DATA_DIR", dir);
    })
}

/// The accuracy printed for (0, 0) in a --shift table.
fn unshifted(stdout: &str) -> f64 {
    let mut lines = stdout.lines().skip_while(|l| !l.trim_start().starts_with("dy\\dx"));
    let header: Vec<&str> = lines.next().expect("a table").split_whitespace().collect();
    let column = header.iter().position(|&h| h == "0").expect("a dx = 0 column");
    let row = lines.find(|l| l.split_whitespace().next() == Some("0")).expect("a dy = 0 row");
    row.split_whitespace().nth(column).unwrap().parse().unwrap()
}

#[test]
fn lenet_eval_prints_the_shift_table_and_draws_both_pictures() {
    let dir = TempDir::new("shift-cli");
    let (params, _) = trained(2);
    lenet_gpu::checkpoint::save(&dir.join("m.safetensors"), &params, Default::default()).unwrap();
    let mut devices = vec!["cpu"];
    if common::gpu().is_some() {
        devices.push("gpu");
    }
    for device in devices {
        let args = ["eval", "--model", "m.safetensors", "--device", device, "--confusion", "c.png"];
        let out = lenet(&[&args[..], &["--shift", "1", "--shift-plot", "s.png"]].concat(), dir.path());
        let stdout = &out.stdout;
        assert!(out.success(), "{device}: {}", out.stderr);
        let plain: f64 = stdout
            .lines()
            .find_map(|l| l.strip_prefix("test accuracy: "))
            .and_then(|rest| rest.split('%').next())
            .expect("the accuracy line")
            .parse()
            .unwrap();
        assert_eq!(unshifted(stdout), plain, "{device}: {stdout}");
        assert!(
            stdout.contains("by distance max(|dx|, |dy|):") && stdout.contains("  1 px:   8 shifts"),
            "{stdout}"
        );
        assert!(
            stdout.contains("confusion matrix drawn in c.png")
                && stdout.contains("shift plot drawn in s.png")
        );
        for png in ["c.png", "s.png"] {
            assert!(image::open(dir.join(png)).is_ok(), "{device}: {png}");
        }
    }
    // --shift-plot alone shifts by up to 4 pixels.
    let out =
        lenet(&["eval", "--model", "m.safetensors", "--device", "cpu", "--shift-plot", "s4.png"], dir.path());
    let stdout = &out.stdout;
    assert!(out.success() && stdout.contains("  4 px:  32 shifts"), "{stdout}");
    // And --shift with no value too, before another flag.
    let out = lenet(&["eval", "--shift", "--model", "m.safetensors", "--device", "cpu"], dir.path());
    assert!(out.stdout.contains("  4 px:  32 shifts"));
}
