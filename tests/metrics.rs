//! `lenet train --metrics/--plot`: progress after every step on both paths, the CSV rows (the
//! same on both paths for the same seed), rows on disk as soon as they are known, resuming, and
//! the curves.

mod common;

use common::{Run, TempDir, run_lenet};
use lenet_gpu::cpu::engine::CpuEngine;
use lenet_gpu::cpu::optimizer::Optimizer;
use lenet_gpu::data::{Dataset, Split, synthetic};
use lenet_gpu::gpu::engine::GpuEngine;
use lenet_gpu::metrics::{self, HEADER, Kind, MetricsLog, Row};
use lenet_gpu::model::{Network, Parameters};
use lenet_gpu::train::{self, Engine, EpochReport, Observer, Progress, TrainConfig};
use std::path::Path;

const SGD: Optimizer = Optimizer::Sgd { lr: 0.01, momentum: 0.9 };

fn cpu_engine(seed: u64) -> CpuEngine {
    let plan = Network::lenet5().plan().unwrap();
    CpuEngine::new(plan.clone(), Parameters::init(&plan, seed), SGD)
}

fn gpu_engine(seed: u64) -> Option<GpuEngine> {
    let plan = Network::lenet5().plan().unwrap();
    let params = Parameters::init(&plan, seed);
    Some(GpuEngine::new(common::gpu()?, plan, &params, SGD).unwrap())
}

fn progress_of(engine: &mut dyn Engine, data: &Dataset, batch: usize) -> Vec<Progress> {
    let mut seen = Vec::new();
    let order = train::epoch_order(data.len(), 4, 1);
    let totals = engine.train_epoch(data, &order, batch, &mut |p| seen.push(p)).unwrap();
    assert_eq!(seen.last(), Some(&totals), "the last report is the totals");
    seen
}

#[test]
fn progress_comes_after_every_step_in_order_on_both_paths() {
    let data = synthetic::generate(32 * 20 + 7, 0, 4).train; // 21 steps, the last of 7 images
    let cpu = progress_of(&mut cpu_engine(4), &data, 32);
    let check = |reports: &[Progress], path: &str| {
        assert_eq!(reports.len(), 21, "{path}: one report per step");
        for (i, p) in reports.iter().enumerate() {
            assert_eq!(p.steps_done, i + 1, "{path}");
            assert_eq!(p.images_done, (32 * (i + 1)).min(data.len()), "{path}");
        }
        assert!(reports.windows(2).all(|w| w[1].seconds >= w[0].seconds), "{path}: time goes forward");
        assert!(reports[20].seconds > 0.0, "{path}");
    };
    check(&cpu, "CPU");
    let Some(mut gpu) = gpu_engine(4) else { return };
    let before = gpu.gpu().counters.snapshot().2;
    let reports = progress_of(&mut gpu, &data, 32);
    let readbacks = gpu.gpu().counters.snapshot().2 - before;
    check(&reports, "GPU");
    // Never one readback per step: one per submission, and the first submission (before anything
    // is timed) holds 1 step, whatever the machine's speed sizes the later ones to.
    let submissions = gpu.last_epoch_submissions().to_vec();
    assert_eq!(readbacks as usize, submissions.len(), "one readback per submission: {submissions:?}");
    assert_eq!(submissions.first(), Some(&1), "{submissions:?}");
    // Each step's own loss (the difference of consecutive totals) is the CPU path's.
    let step_losses = |r: &[Progress]| -> Vec<f64> {
        std::iter::once(r[0].loss_sum).chain(r.windows(2).map(|w| w[1].loss_sum - w[0].loss_sum)).collect()
    };
    for (i, (g, c)) in step_losses(&reports).iter().zip(step_losses(&cpu)).enumerate() {
        assert!((g - c).abs() <= 1e-4 * c.abs(), "step {}: loss {g} on the GPU, {c} on the CPU", i + 1);
    }
}

#[test]
fn rows_round_trip_and_other_files_are_refused() {
    let row = Row {
        kind: Kind::Train,
        epoch: 2,
        step: 150,
        loss: Some(0.125),
        accuracy: 0.96875,
        images_per_s: Some(16000.5),
        learning_rate: 0.01,
    };
    assert_eq!(row.to_csv(), "train,2,150,0.125000,0.968750,16000.5,0.01");
    assert_eq!(Row::parse(&row.to_csv()).unwrap(), row);
    let test = Row { kind: Kind::Test, loss: None, ..row.clone() };
    assert_eq!(test.to_csv(), "test,2,150,,0.968750,16000.5,0.01");
    assert_eq!(Row::parse(&test.to_csv()).unwrap(), test);
    assert!(Row::parse("valid,1,2,,0.5,,0.01").unwrap_err().contains("unknown kind"));
    assert!(Row::parse("train,1,2").unwrap_err().contains("7 fields"));

    let dir = TempDir::new("metrics-files");
    let foreign = dir.join("foreign.csv");
    std::fs::write(&foreign, "a,b,c\n1,2,3\n").unwrap();
    let e = metrics::read(&foreign).unwrap_err().to_string();
    assert!(e.contains("foreign.csv") && e.contains("not a metrics file"), "{e}");
    let e = MetricsLog::rows_to_keep(&foreign, 1).unwrap_err().to_string();
    assert!(e.contains("not a metrics file"), "{e}");
    assert_eq!(std::fs::read_to_string(&foreign).unwrap(), "a,b,c\n1,2,3\n", "left as it was");
    assert!(MetricsLog::rows_to_keep(&dir.join("absent.csv"), 1).unwrap().is_empty());
    // A picture given for the CSV, and bytes that are no text: named for what they are.
    let png = dir.join("curves.png");
    std::fs::write(&png, b"\x89PNG\r\n\x1a\n\xff\xfe").unwrap();
    let e = metrics::read(&png).unwrap_err().to_string();
    assert!(e.contains("curves.png: is a PNG picture, not a metrics file"), "{e}");
    std::fs::write(&png, b"\xff\xfe\xfd").unwrap();
    let e = metrics::read(&png).unwrap_err().to_string();
    assert!(e.contains("curves.png: not a metrics file") && !e.contains("UTF-8"), "{e}");
    let bad = dir.join("bad.csv");
    std::fs::write(&bad, format!("{HEADER}\ntrain,1,x,,0.5,,0.01\n")).unwrap();
    let e = metrics::read(&bad).unwrap_err().to_string();
    assert!(e.contains("line 2") && e.contains("step \"x\""), "{e}");
}

fn at(steps: usize, loss_sum: f64, correct: u64, seconds: f64) -> Progress {
    Progress {
        images_done: 10 * steps,
        loss_sum,
        correct,
        steps_done: steps,
        seconds,
        diverged_at_step: None,
    }
}

#[test]
fn an_epoch_that_starts_over_continues_its_rows_without_repeating_them() {
    // `--device auto` after a GPU failure: the CPU path runs the epoch again from its start.
    let mut log = MetricsLog::new(None, 2, 10, 0.5, Vec::new()).unwrap();
    log.epoch_started(1, 60); // 6 steps of 10
    for (s, loss) in [(1, 20.0), (2, 30.0), (3, 36.0)] {
        log.progress(at(s, loss, 0, s as f64));
    }
    // The rerun's totals differ a little (another device's rounding) but count the same steps.
    for (s, loss) in [(1, 21.0), (2, 31.0), (3, 37.0), (4, 41.0), (5, 43.0), (6, 44.0)] {
        log.progress(at(s, loss, 0, 10.0 + s as f64));
    }
    let steps: Vec<usize> = log.rows().iter().map(|r| r.step).collect();
    assert_eq!(steps, [2, 4, 6], "each step in one row, none twice");
    // Steps 3-4 from the rerun's own totals: (41 - 31) / 20 images.
    assert_eq!(log.rows()[1].loss, Some(0.5));
    assert_eq!(log.rows()[2].loss, Some((44.0 - 41.0) / 20.0));
}

#[test]
fn each_row_is_in_the_file_as_soon_as_it_is_known() {
    let dir = TempDir::new("metrics-flush");
    let path = dir.join("m.csv");
    let mut log = MetricsLog::new(Some(&path), 2, 10, 0.5, Vec::new()).unwrap();
    let on_disk = || metrics::read(&path).unwrap();
    assert!(on_disk().is_empty(), "the header alone");
    log.epoch_started(1, 50); // 5 steps of 10
    log.progress(at(1, 20.0, 3, 1.0));
    assert!(on_disk().is_empty());
    log.progress(at(2, 30.0, 8, 2.0));
    let rows = on_disk();
    assert_eq!(rows.len(), 1, "a row after 2 steps, before the epoch ends");
    assert_eq!((rows[0].kind, rows[0].epoch, rows[0].step), (Kind::Train, 1, 2));
    assert_eq!((rows[0].loss, rows[0].accuracy, rows[0].images_per_s), (Some(1.5), 0.4, Some(10.0)));
    log.progress(at(3, 33.0, 16, 4.0));
    log.progress(at(4, 35.0, 25, 6.0));
    let rows = on_disk();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[1].step, rows[1].loss, rows[1].accuracy, rows[1].images_per_s),
        (4, Some(0.25), 0.85, Some(5.0))
    );
    log.progress(at(5, 36.0, 35, 7.0));
    log.epoch_finished(&EpochReport {
        epoch: 1,
        train_loss: 0.72,
        train_accuracy: 0.7,
        test_accuracy: 0.9,
        test_loss: 0.35,
        validation: None,
        seconds: 7.0,
        images_per_second: 50.0 / 7.0,
    });
    let rows = on_disk();
    assert_eq!(rows.len(), 4, "the step left over, then the test row");
    assert_eq!((rows[2].step, rows[2].loss, rows[2].accuracy), (5, Some(0.1), 1.0));
    assert_eq!(
        (rows[3].kind, rows[3].step, rows[3].loss, rows[3].accuracy),
        (Kind::Test, 5, Some(0.35), 0.9)
    );
    assert_eq!(log.rows(), &rows[..]);
    // The next epoch's steps follow this one's.
    log.epoch_started(2, 50);
    log.progress(at(1, 1.0, 1, 1.0));
    log.progress(at(2, 2.0, 2, 2.0));
    assert_eq!(on_disk().last().unwrap().step, 7);
    log.check().unwrap();
}

#[test]
fn an_epochs_short_last_step_joins_the_row_before_it() {
    // 43 images in steps of 10, a row every step: the last step holds 3 images, too few for a
    // point of its own (under half a row's 10), so the row of step 4 waits and covers both.
    let mut log = MetricsLog::new(None, 1, 10, 0.5, Vec::new()).unwrap();
    log.epoch_started(1, 43);
    for step in 1..=4 {
        log.progress(at(step, step as f64 * 3.0, 5 * step as u64, step as f64));
    }
    let last = Progress { images_done: 43, loss_sum: 12.0 + 4.5, correct: 21, ..at(5, 0.0, 0, 5.0) };
    log.progress(last);
    let no_test = EpochReport {
        epoch: 1,
        train_loss: 0.0,
        train_accuracy: 0.0,
        test_accuracy: f64::NAN,
        test_loss: f64::NAN,
        validation: None,
        seconds: 5.0,
        images_per_second: 10.0,
    };
    log.epoch_finished(&no_test);
    let rows: Vec<(usize, Option<f64>, f64)> =
        log.rows().iter().map(|r| (r.step, r.loss, r.accuracy)).collect();
    assert_eq!(
        rows,
        [(1, Some(0.3), 0.5), (2, Some(0.3), 0.5), (3, Some(0.3), 0.5), (5, Some(0.576923), 0.461538)]
    );
    // A remainder of half a row or more keeps its own row.
    let mut log = MetricsLog::new(None, 2, 10, 0.5, Vec::new()).unwrap();
    log.epoch_started(1, 50);
    (1..=5).for_each(|step| log.progress(at(step, step as f64, step as u64, step as f64)));
    log.epoch_finished(&no_test);
    assert!(log.rows().iter().map(|r| r.step).eq([2, 4, 5]), "{:?}", log.rows());
}

/// Trains 2 epochs with a metrics file and returns its rows.
fn metrics_run(engine: &mut dyn Engine, split: &Split, path: &Path) -> Vec<Row> {
    let config = TrainConfig { epochs: 2, batch_size: 32, optimizer: SGD, seed: 6, ..Default::default() };
    let mut log = MetricsLog::new(Some(path), 4, 32, 0.01, Vec::new()).unwrap();
    train::fit(engine, split, &config, &mut log).unwrap();
    log.check().unwrap();
    let rows = metrics::read(path).unwrap();
    assert_eq!(log.rows(), &rows[..]);
    rows
}

#[test]
fn cpu_and_gpu_write_the_same_rows_for_the_same_seed() {
    let dir = TempDir::new("metrics-paths");
    let split = synthetic::generate(32 * 10, 64, 6); // 10 steps an epoch: rows at 4, 8, 10
    let cpu = metrics_run(&mut cpu_engine(6), &split, &dir.join("cpu.csv"));
    let text = std::fs::read_to_string(dir.join("cpu.csv")).unwrap();
    assert_eq!(text.lines().next(), Some(HEADER));
    let shape: Vec<(Kind, usize, usize)> = cpu.iter().map(|r| (r.kind, r.epoch, r.step)).collect();
    use Kind::{Test, Train};
    let expected = [(Train, 1, 4), (Train, 1, 8), (Train, 1, 10), (Test, 1, 10)];
    let expected: Vec<_> = expected
        .iter()
        .chain(&[(Train, 2, 14), (Train, 2, 18), (Train, 2, 20), (Test, 2, 20)])
        .copied()
        .collect();
    assert_eq!(shape, expected);
    for r in &cpu {
        assert_eq!(r.learning_rate, 0.01);
        assert!(r.images_per_s.is_some_and(|v| v > 0.0), "{r:?}");
        assert!((0.0..=1.0).contains(&r.accuracy));
        assert!(r.loss.is_some(), "a loss in every row, the test rows too: {r:?}");
    }
    assert!(cpu[6].loss < cpu[0].loss, "it learns: {cpu:?}");

    let Some(mut gpu) = gpu_engine(6) else { return };
    let on_gpu = metrics_run(&mut gpu, &split, &dir.join("gpu.csv"));
    assert_eq!(on_gpu.len(), cpu.len());
    for (g, c) in on_gpu.iter().zip(&cpu) {
        assert_eq!((g.kind, g.epoch, g.step), (c.kind, c.epoch, c.step));
        if let (Some(gl), Some(cl)) = (g.loss, c.loss) {
            assert!((gl - cl).abs() <= 1e-4 * cl, "step {}: loss {gl} on the GPU, {cl} on the CPU", c.step);
        }
        // A prediction may flip on a near tie: at most one image in a row.
        let images = if c.kind == Test { 64.0 } else { 128.0 };
        assert!((g.accuracy - c.accuracy).abs() <= 1.0 / images + 1e-9, "{g:?} vs {c:?}");
    }
}

fn lenet(args: &[&str], dir: &Path) -> Run {
    let data = ["--dataset", "synthetic", "--no-download", "--limit-train", "256", "--limit-test", "64"];
    run_lenet(&[args, &data].concat(), |cmd| {
        cmd.current_dir(dir).env("LENET_DATA_DIR", dir);
    })
}

#[test]
fn lenet_train_writes_metrics_and_curves_and_resume_continues_them() {
    let dir = TempDir::new("metrics-cli");
    let run = |epochs: &str, resume: bool| {
        let mut args = vec!["train", "--device", "cpu", "--batch-size", "32", "--epochs", epochs];
        args.extend([
            "--save",
            "m.safetensors",
            "--metrics",
            "m.csv",
            "--metrics-every",
            "3",
            "--plot",
            "p.png",
        ]);
        if resume {
            args.extend(["--resume", "m.safetensors"]);
        }
        let out = lenet(&args, dir.path());
        assert!(out.success(), "{}", out.stderr);
        out.stderr.clone()
    };
    let stderr = run("1", false);
    assert!(
        stderr.contains("metrics written to m.csv") && stderr.contains("training curves drawn in p.png"),
        "{stderr}"
    );
    let steps = |rows: &[Row]| rows.iter().map(|r| (r.kind, r.epoch, r.step)).collect::<Vec<_>>();
    use Kind::{Test, Train};
    let first = metrics::read(&dir.join("m.csv")).unwrap();
    assert_eq!(steps(&first), [(Train, 1, 3), (Train, 1, 6), (Train, 1, 8), (Test, 1, 8)]);
    let plot = image::open(dir.join("p.png")).unwrap();
    assert_eq!((plot.width(), plot.height()), (800, 800));

    // A crash after epoch 1 left rows of epoch 2 behind: resuming from epoch 1 rewrites them.
    let mut text = std::fs::read_to_string(dir.join("m.csv")).unwrap();
    text.push_str("train,2,11,9.0,0.1,,0.01\n");
    std::fs::write(dir.join("m.csv"), text).unwrap();
    run("2", true);
    let rows = metrics::read(&dir.join("m.csv")).unwrap();
    assert_eq!(rows[..4], first[..]);
    assert_eq!(steps(&rows[4..]), [(Train, 2, 11), (Train, 2, 14), (Train, 2, 16), (Test, 2, 16)]);
    assert!(rows[4].loss != Some(9.0));

    let out = run_lenet(&["show", "curves", "m.csv", "--out", "c.png"], |cmd| {
        cmd.current_dir(dir.path());
    });
    assert!(out.success(), "{}", out.stderr);
    assert!(out.stdout.contains("8 rows of m.csv"));
    assert!(image::open(dir.join("c.png")).is_ok());

    // Nowhere to draw: refused before training.
    let out = lenet(&["train", "--device", "cpu", "--plot", "no/such/dir/p.png"], dir.path());
    let stderr = &out.stderr;
    assert!(!out.success() && stderr.contains("the directory no/such/dir does not exist"), "{stderr}");
    assert!(!stderr.contains("epoch 1/1"), "{stderr}");
}
