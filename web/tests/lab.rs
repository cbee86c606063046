//! The page's `Lab`, natively on the CPU path: a training call continues from the weights,
//! optimizer state and place in the epochs the last one left, so calls add up to one long call;
//! a saved model is one the CLI reads, and loads back.

use lenet_gpu::session::SavedModel;
use lenet_web::lab::{DataKind, Lab, TrainRequest, TrainTotals};
use std::future::Future;
use std::path::Path;
use std::pin::Pin;

fn no_pause() -> Pin<Box<dyn Future<Output = ()>>> {
    Box::pin(async {})
}

fn train(lab: &mut Lab, steps: usize, learning_rate: f32) -> TrainTotals {
    let request = TrainRequest { steps, batch_size: 32, learning_rate, dataset: DataKind::Synthetic };
    pollster::block_on(lab.train(&request, &mut |_| {}, &no_pause)).unwrap()
}

fn open() -> Lab {
    pollster::block_on(Lab::open("cpu", 5, "")).unwrap()
}

#[test]
fn calls_add_up_to_one_long_call_across_an_epoch_boundary() {
    // 10,000 synthetic examples at batch 32: 313 steps an epoch, so 400 steps cross into the second.
    let (mut once, mut in_parts) = (open(), open());
    let whole = train(&mut once, 400, 0.01);
    let parts: Vec<TrainTotals> = [150, 200, 50].iter().map(|&n| train(&mut in_parts, n, 0.01)).collect();
    assert_eq!(parts.iter().map(|t| t.steps).sum::<usize>(), whole.steps);
    assert_eq!(parts.iter().map(|t| t.images).sum::<usize>(), whole.images);
    // The first epoch's last batch holds its 16 examples left over, as `lenet train`'s does.
    assert_eq!(whole.images, 400 * 32 - 16);
    let saved = |lab: &Lab| {
        let bytes = pollster::block_on(lab.save()).unwrap();
        SavedModel::from_bytes(&bytes, Path::new("page.safetensors"), None).unwrap()
    };
    assert_eq!(saved(&once).params, saved(&in_parts).params, "the same model, bit for bit");
    // The same record, each lab being a run of its own (with its own run id).
    let record = |lab: &Lab| {
        let mut metadata = saved(lab).metadata;
        assert!(metadata.remove("run_id").is_some_and(|id| id.len() == 16));
        metadata
    };
    assert_eq!(record(&once), record(&in_parts));
}

#[test]
fn a_new_learning_rate_keeps_the_weights_and_momentum() {
    let (mut changed, mut reference) = (open(), open());
    train(&mut changed, 20, 0.02);
    train(&mut reference, 20, 0.02);
    // Back to the same rate through a rebuilt engine: nothing is lost on the way.
    train(&mut changed, 1, 0.05);
    train(&mut reference, 1, 0.05);
    let a = train(&mut changed, 10, 0.02);
    let b = train(&mut reference, 10, 0.02);
    assert_eq!(a.loss_sum, b.loss_sum);
    let fresh = train(&mut open(), 10, 0.02);
    assert_ne!(a.loss_sum, fresh.loss_sum, "the 21 steps before count");
}

#[test]
fn a_saved_model_loads_back_and_describes_its_run() {
    let mut lab = open();
    train(&mut lab, 30, 0.01);
    let bytes = pollster::block_on(lab.save()).unwrap();
    let model = SavedModel::from_bytes(&bytes, Path::new("page.safetensors"), None).unwrap();
    assert_eq!(model.metadata["dataset"], "synthetic");
    assert_eq!(model.metadata["seed"], "5");
    let mut other = open();
    assert_eq!(pollster::block_on(other.load(&bytes)).unwrap(), "LeNet-5");
    assert_eq!(pollster::block_on(other.save()).unwrap().len(), bytes.len());
    let accuracy = |lab: &mut Lab| pollster::block_on(lab.evaluate(DataKind::Synthetic, &no_pause)).unwrap();
    assert_eq!(accuracy(&mut other), accuracy(&mut lab));
    assert!(pollster::block_on(other.load(b"not a model")).is_err());
}

#[test]
fn mnist_without_its_files_is_refused_by_name() {
    let mut lab = open();
    let request = TrainRequest { steps: 1, batch_size: 8, learning_rate: 0.01, dataset: DataKind::Mnist };
    let e = pollster::block_on(lab.train(&request, &mut |_| {}, &no_pause)).unwrap_err();
    assert!(e.to_string().contains("MNIST is not loaded"), "{e}");
}

#[test]
fn a_train_click_stops_at_each_epochs_end_and_says_where_it_stands() {
    // 10,000 examples at batch 64: 157 steps an epoch. 30 steps first, then 1.5 epochs planned
    // (236 steps, the click's 2 epochs) from there: to the run's first epoch end (127 steps),
    // then 109 into the next.
    let mut lab = open();
    let request =
        |steps| TrainRequest { steps, batch_size: 64, learning_rate: 0.01, dataset: DataKind::Synthetic };
    pollster::block_on(lab.train(&request(30), &mut |_| {}, &no_pause)).unwrap();
    let plan = lab.plan_epochs(1.5, 64, DataKind::Synthetic).unwrap();
    assert_eq!((plan.epochs, plan.steps_left), (2, 236));
    let mut seen = Vec::new();
    loop {
        let t = pollster::block_on(lab.train(&request(100), &mut |_| {}, &no_pause)).unwrap();
        let plan = t.plan.expect("a planned call says where the click stands");
        seen.push((t.steps, plan.epoch, plan.epoch_ended, plan.steps_left));
        if plan.steps_left == 0 {
            break;
        }
    }
    assert_eq!(seen, vec![(100, 1, false, 136), (27, 1, true, 109), (100, 2, false, 9), (9, 2, false, 0)]);
    // The click over, a call trains what it asks.
    let t = pollster::block_on(lab.train(&request(200), &mut |_| {}, &no_pause)).unwrap();
    assert_eq!((t.steps, t.plan), (200, None));
    assert!(lab.plan_epochs(0.0, 64, DataKind::Synthetic).is_err());

    // A fifth of an epoch (31 steps) from 14 steps before an epoch's end: the click's one epoch,
    // stopping at the run's epoch end (where the page evaluates), then the 17 steps left.
    let mut lab = open();
    pollster::block_on(lab.train(&request(143), &mut |_| {}, &no_pause)).unwrap();
    assert_eq!(lab.plan_epochs(0.2, 64, DataKind::Synthetic).unwrap().epochs, 1);
    let plan = |lab: &mut Lab| {
        pollster::block_on(lab.train(&request(50), &mut |_| {}, &no_pause)).unwrap().plan.unwrap()
    };
    let first = plan(&mut lab);
    assert_eq!((first.epoch, first.epochs, first.epoch_ended, first.steps_left), (1, 1, true, 17));
    let second = plan(&mut lab);
    assert_eq!((second.epoch, second.epochs, second.epoch_ended, second.steps_left), (1, 1, false, 0));
}

#[test]
fn reset_starts_over_from_the_seed() {
    let (mut lab, fresh) = (open(), open());
    let params = |lab: &Lab| {
        let bytes = pollster::block_on(lab.save()).unwrap();
        SavedModel::from_bytes(&bytes, Path::new("page.safetensors"), None).unwrap().params
    };
    let first = train(&mut lab, 40, 0.01);
    assert_ne!(params(&lab), params(&fresh));
    pollster::block_on(lab.reset()).unwrap();
    assert_eq!(params(&lab), params(&fresh), "the seed's initialization again");
    // And the run starts over: the same steps give the same numbers as the first time.
    assert_eq!(train(&mut lab, 40, 0.01).loss_sum, first.loss_sum);
}

#[test]
fn a_stopped_call_says_how_many_steps_ran() {
    let mut lab = open();
    let interrupt = lab.interrupt();
    let request =
        TrainRequest { steps: 400, batch_size: 32, learning_rate: 0.01, dataset: DataKind::Synthetic };
    let mut seen = 0;
    let stopped = pollster::block_on(lab.train(
        &request,
        &mut |t| {
            seen = t.steps;
            if t.steps >= 7 {
                interrupt.request();
            }
        },
        &no_pause,
    ));
    match stopped {
        Err(lenet_gpu::Error::Interrupted { steps_done }) => assert_eq!(steps_done, seen),
        other => panic!("expected Interrupted, got {other:?}"),
    }
    assert!((7..400).contains(&seen), "{seen}");
}

#[test]
fn auto_trains_on_the_cpu_path_where_the_only_adapter_is_a_software_one() {
    // Here wgpu finds lavapipe (software) when Mesa's drivers are installed, else nothing: either
    // way "auto" takes the CPU path and says why; "webgpu" takes the adapter when there is one.
    let lab = pollster::block_on(Lab::open("auto", 5, "")).unwrap();
    assert_eq!(lab.backend().key(), "cpu");
    let why = lab.fallback().expect("a reason for the CPU path");
    if let Ok(on_gpu) = pollster::block_on(Lab::open("webgpu", 5, "")) {
        assert!(on_gpu.is_software(), "this machine's adapter is lavapipe: {}", on_gpu.adapter());
        assert!(why.contains("software"), "{why}");
    }
}

#[test]
fn a_click_ended_between_two_calls_limits_no_later_call() {
    let mut lab = open();
    let request =
        |steps| TrainRequest { steps, batch_size: 64, learning_rate: 0.01, dataset: DataKind::Synthetic };
    lab.plan_epochs(1.0, 64, DataKind::Synthetic).unwrap();
    let t = pollster::block_on(lab.train(&request(50), &mut |_| {}, &no_pause)).unwrap();
    assert_eq!(t.plan.map(|p| p.steps_left), Some(107));
    lab.end_plan(); // Stop between two calls of the click
    let t = pollster::block_on(lab.train(&request(200), &mut |_| {}, &no_pause)).unwrap();
    assert_eq!((t.steps, t.plan), (200, None));
}

#[test]
fn an_evaluation_shows_its_confusion_matrix_and_most_confident_mistakes() {
    let mut lab = open();
    train(&mut lab, 20, 0.01);
    let scored = pollster::block_on(lab.score(DataKind::Synthetic, &no_pause)).unwrap();
    let classes = scored.classes;
    assert_eq!((classes, scored.confusion.len()), (10, 100));
    let total: u64 = scored.confusion.iter().sum();
    let correct: u64 = (0..classes).map(|c| scored.confusion[c * classes + c]).sum();
    assert_eq!(scored.accuracy, correct as f64 / total as f64);
    assert_eq!(pollster::block_on(lab.evaluate(DataKind::Synthetic, &no_pause)).unwrap(), scored.accuracy);
    assert!(!scored.mistakes.is_empty() && scored.mistakes.len() <= 8, "after 20 steps some are wrong");
    for pair in scored.mistakes.windows(2) {
        assert!(pair[0].confidence >= pair[1].confidence, "the most confident first");
    }
    for m in &scored.mistakes {
        assert!(m.label != m.predicted && m.image.len() == 784);
        assert!(scored.confusion[m.label as usize * classes + m.predicted as usize] > 0);
    }
}

#[test]
fn a_drawn_digit_shows_its_feature_maps_and_the_lessons_kernels() {
    let mut lab = open();
    // A vertical bar, 4 pixels wide, as `predict` would hand it back.
    let image: Vec<u8> = (0..784)
        .map(|i| if (12..16).contains(&(i % 28)) && (4..24).contains(&(i / 28)) { 255 } else { 0 })
        .collect();
    let maps = pollster::block_on(lab.features(&image)).unwrap();
    let shapes: Vec<(usize, usize, usize)> = maps.iter().map(|m| (m.channels, m.height, m.width)).collect();
    assert_eq!(shapes, [(6, 28, 28), (6, 14, 14), (16, 10, 10), (16, 5, 5)]);
    assert!(
        maps[0].label.starts_with("conv1")
            && maps.iter().all(|m| m.values.len() == m.channels * m.height * m.width)
    );
    let filtered = lab.lesson_kernels(&image).unwrap();
    let names: Vec<&str> = filtered.iter().map(|f| f.name).collect();
    assert_eq!(names, ["vertical-edge", "horizontal-edge", "outline", "blur"]);
    assert!(filtered.iter().all(|f| (f.width, f.height, f.pixels.len()) == (28, 28, 784)));
    // The vertical edge detector marks the bar's two sides: its left side brighter than its middle.
    let vertical = &filtered[0].pixels;
    assert!(vertical[14 * 28 + 11] != vertical[14 * 28 + 14], "an edge at the bar's side");
    assert!(pollster::block_on(lab.features(&image[..100])).is_err_and(|e| e.to_string().contains("784")));
}

#[test]
fn a_test_image_reads_as_it_was_scored() {
    let mut lab = open();
    train(&mut lab, 20, 0.01);
    let scored = pollster::block_on(lab.score(DataKind::Synthetic, &no_pause)).unwrap();
    let mistake = scored.mistakes.first().expect("a mistake after 20 steps");
    let reading = pollster::block_on(lab.read_input(&mistake.image)).unwrap();
    let best =
        (0..10).max_by(|&a, &b| reading.probabilities[a].total_cmp(&reading.probabilities[b])).unwrap();
    assert_eq!(best, mistake.predicted as usize);
    assert!((reading.probabilities[best] - mistake.confidence).abs() < 1e-9);
}
