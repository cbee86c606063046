//! `lenet eval --misclassified FILE.png`, through the CLI: the gallery of the test images a model
//! got wrong, the most confident mistakes first, at most 100, laid out as `viz::gallery::layout`
//! says, each image drawn pixel for pixel as the network read it; the count of all mistakes.

mod common;

use common::sandbox::Sandbox;
use lenet_gpu::checkpoint;
use lenet_gpu::data::mnist::DatasetChoice;
use lenet_gpu::evaluation::{self, Mistake};
use lenet_gpu::gpu::DeviceChoice;
use lenet_gpu::model::{Network, Parameters};
use lenet_gpu::session::{self, DataRequest, SavedModel, Session};
use lenet_gpu::viz::gallery::{self, MAX_SHOWN, SCALE};
use std::collections::HashMap;
use std::path::Path;

/// The synthetic test set `lenet eval --dataset synthetic --limit-test n` reads, and the
/// mistakes the model at `model` makes on it, as the library finds them.
fn expected(model: &Path, n: usize) -> (lenet_gpu::data::Dataset, Vec<Mistake>) {
    let request = DataRequest {
        choice: DatasetChoice::Synthetic,
        data_dir: None,
        seed: 1,
        download: false,
        limit_train: None,
        limit_test: Some(n),
        download_progress: false,
        test_only: true,
    };
    let model = SavedModel::read(model, None).unwrap();
    let input = model.network.plan().unwrap().input();
    let test = session::load_data(&request, input).unwrap().split.test;
    let mut session = Session::inference(DeviceChoice::Cpu, model, Box::new(|_| {})).unwrap();
    let (evaluation, _, logits) = evaluation::evaluate_with_logits(session.engine(), &test).unwrap();
    let mistakes = evaluation::mistakes(&logits, &test.labels, 10);
    assert_eq!(mistakes.len() as u64, evaluation.total() - evaluation.correct());
    (test, mistakes)
}

#[test]
fn the_gallery_draws_the_most_confident_mistakes_first_at_most_100() {
    let sandbox = Sandbox::new("misclassified");
    // An untrained network: most of the test set is wrong.
    let plan = Network::lenet5().plan().unwrap();
    let model = sandbox.work.join("m.safetensors");
    checkpoint::save(&model, &Parameters::init(&plan, 2), HashMap::new()).unwrap();
    for n in [300, 40] {
        let png = format!("wrong-{n}.png");
        let args = ["eval", "--model", "m.safetensors", "--dataset", "synthetic", "--device", "cpu"];
        let run =
            sandbox.run(&[&args[..], &["--limit-test", &n.to_string(), "--misclassified", &png]].concat());
        assert!(run.success(), "{}", run.stderr);
        let (test, mistakes) = expected(&model, n);
        let wrong = mistakes.len();
        assert!(wrong > 20 && mistakes.windows(2).all(|w| w[0].confidence >= w[1].confidence));
        assert_eq!(wrong > MAX_SHOWN, n == 300, "the cap is tried, and a gallery under it: {wrong}");
        let said = match wrong > MAX_SHOWN {
            true => format!(
                "misclassified: {wrong} of {n} test images; the {MAX_SHOWN} most confident mistakes drawn in {png}"
            ),
            false => format!(
                "misclassified: {wrong} of {n} test images, drawn in {png} (the most confident mistakes first)"
            ),
        };
        assert!(run.stdout.lines().any(|l| l == said), "{said:?} in:\n{}", run.stdout);

        let picture = image::open(sandbox.work.join(&png)).unwrap().into_rgb8();
        let layout = gallery::layout(&test, &mistakes, &|c| c.to_string());
        assert_eq!(layout.shown, wrong.min(MAX_SHOWN));
        assert_eq!((layout.columns, layout.rows), (10, layout.shown.div_ceil(10)));
        assert_eq!((picture.width() as i32, picture.height() as i32), layout.size);
        // Each image where the layout puts it, in order, every pixel as the network read it.
        for (i, m) in mistakes[..layout.shown].iter().enumerate() {
            let (x, y) = layout.image_at(i);
            let digit = test.image(m.index);
            for (p, &v) in digit.iter().enumerate() {
                let (px, py) = ((p % 28) as i32 * SCALE + 1, (p / 28) as i32 * SCALE + 1);
                let drawn = picture.get_pixel((x + px) as u32, (y + py) as u32).0;
                assert_eq!(drawn, [v, v, v], "mistake {i} (test image {}), pixel {p}", m.index);
            }
        }
        // Tiles do not overlap: the next one starts after the widest caption.
        assert!(layout.tile.0 >= layout.image_side && layout.tile.1 > layout.image_side + 20);
    }
}

#[test]
fn the_mistakes_are_the_wrong_predictions_most_confident_first() {
    // Three images of two classes: logits that make 0 right, 1 wrong (confidently), 2 wrong.
    let logits = [5.0, 0.0, 0.0, 0.0, 9.0, 0.0, 1.0, 0.0, 0.0];
    let mistakes = evaluation::mistakes(&logits, &[0, 0, 1], 3);
    let found: Vec<(usize, u8, u8)> = mistakes.iter().map(|m| (m.index, m.label, m.predicted)).collect();
    assert_eq!(found, [(1, 0, 1), (2, 1, 0)]);
    let e9 = 9f64.exp();
    assert!((mistakes[0].confidence - e9 / (e9 + 2.0)).abs() < 1e-9);
    assert!(mistakes[0].confidence > mistakes[1].confidence);
}
