//! Evaluating a network on a labelled set: accuracy and the confusion matrix from its
//! predictions (`evaluate`), or with the mean test loss too, from its logits
//! (`evaluate_with_loss`: what each epoch of training reports, the same arithmetic on both paths).
//!
//! A set runs through the engine in pieces of about [`PIECE_SECONDS`] ([`logits_async`],
//! [`predictions_async`]), the engine's interrupt checked between them: MNIST's test set whole
//! takes 13 s on a software adapter, and a Ctrl-C or a page's stop button should not wait for it.
//! Each image's outputs do not depend on the others', so the pieces change no figure.

use crate::data::Dataset;
use crate::model::Plan;
use crate::train::Engine;
use crate::{Error, Result};
use web_time::Instant;

/// The time a piece of inference aims at.
pub const PIECE_SECONDS: f64 = 0.25;
/// Pieces hold a multiple of this many images: an engine runs whole batches (the GPU path's
/// inference batch is 256, and 11 images cost it as much as 256), so a smaller piece saves no
/// time, only adds calls.
const PIECE_GRAIN: usize = 256;
/// The images of a set's first piece; the later ones are sized from its time (`train::items_for`).
const FIRST_PIECE: usize = PIECE_GRAIN;

/// The images `from..from + n` of `data`.
fn piece(data: &Dataset, from: usize, n: usize) -> Dataset {
    let p = data.pixels_per_image();
    Dataset {
        images: data.images[from * p..(from + n) * p].to_vec(),
        labels: data.labels[from..from + n].to_vec(),
        ..*data
    }
}

/// Runs `run` over `data` in pieces, concatenating what each returns; stops with
/// `Error::InferenceInterrupted` when the engine's interrupt is requested between two.
async fn in_pieces<T>(
    engine: &mut dyn Engine,
    data: &Dataset,
    mut run: impl AsyncFnMut(&mut dyn Engine, &Dataset) -> Result<Vec<T>>,
) -> Result<Vec<T>> {
    if data.len() <= FIRST_PIECE {
        return run(engine, data).await;
    }
    let interrupt = engine.interrupt();
    let (mut out, mut done, mut size) = (Vec::new(), 0, FIRST_PIECE);
    while done < data.len() {
        if interrupt.requested() {
            return Err(Error::InferenceInterrupted { images_done: done });
        }
        let n = size.min(data.len() - done);
        let start = Instant::now();
        out.extend(run(engine, &piece(data, done, n)).await?);
        let fit = crate::train::items_for(PIECE_SECONDS, n, start.elapsed().as_secs_f64(), n);
        size = fit.div_ceil(PIECE_GRAIN).max(1) * PIECE_GRAIN;
        done += n;
    }
    Ok(out)
}

/// The network's raw outputs for every image of `data` ([images, classes], row-major), in pieces.
pub async fn logits_async(engine: &mut dyn Engine, data: &Dataset) -> Result<Vec<f32>> {
    in_pieces(engine, data, async |engine: &mut dyn Engine, piece: &Dataset| engine.logits_async(piece).await)
        .await
}

/// The predicted class of every image of `data`, in pieces.
pub async fn predictions_async(engine: &mut dyn Engine, data: &Dataset) -> Result<Vec<u8>> {
    in_pieces(engine, data, async |engine: &mut dyn Engine, piece: &Dataset| {
        engine.predict_async(piece).await
    })
    .await
}

/// The network's input must be the dataset's image shape (channels and size), its output must have a
/// class for every label, and the dataset must hold as many images as labels.
pub(crate) fn check_fits(plan: &Plan, data: &Dataset) -> Result<()> {
    let input = plan.input();
    let bad = |msg: String| Err(Error::InvalidArgument(msg));
    if input != data.shape() {
        return bad(format!("the network takes {input} inputs but the images are {}", data.shape()));
    }
    if data.images.len() != data.len() * data.pixels_per_image() {
        return bad(format!(
            "the data set has {} labels but {} bytes of images",
            data.len(),
            data.images.len()
        ));
    }
    let classes = plan.classes();
    if classes > 256 {
        return bad(format!("the network has {classes} outputs; classes are bytes, so at most 256"));
    }
    if let Some(&label) = data.labels.iter().find(|&&l| l as usize >= classes) {
        return bad(format!("label {label} is out of range for a network with {classes} outputs"));
    }
    Ok(())
}

/// Accuracy and confusion matrix on a labelled set.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    pub classes: usize,
    /// confusion[actual * classes + predicted]
    pub confusion: Vec<u64>,
}

impl Evaluation {
    pub fn from_predictions(labels: &[u8], predictions: &[u8], classes: usize) -> Evaluation {
        let mut confusion = vec![0; classes * classes];
        for (&actual, &predicted) in labels.iter().zip(predictions) {
            confusion[actual as usize * classes + predicted as usize] += 1;
        }
        Evaluation { classes, confusion }
    }

    pub fn total(&self) -> u64 {
        self.confusion.iter().sum()
    }

    pub fn correct(&self) -> u64 {
        (0..self.classes).map(|c| self.confusion[c * self.classes + c]).sum()
    }

    pub fn accuracy(&self) -> f64 {
        self.correct() as f64 / self.total().max(1) as f64
    }

    /// Accuracy on the examples whose label is `class`.
    pub fn class_accuracy(&self, class: usize) -> f64 {
        let row = &self.confusion[class * self.classes..(class + 1) * self.classes];
        row[class] as f64 / row.iter().sum::<u64>().max(1) as f64
    }
}

/// `evaluate_async`, waiting for it (native only).
#[cfg(not(target_arch = "wasm32"))]
pub fn evaluate(engine: &mut dyn Engine, data: &Dataset) -> Result<Evaluation> {
    pollster::block_on(evaluate_async(engine, data))
}

/// Runs `engine` over `data` and compares its predictions with the labels.
pub async fn evaluate_async(engine: &mut dyn Engine, data: &Dataset) -> Result<Evaluation> {
    check_fits(engine.plan(), data)?;
    let predictions = predictions_async(engine, data).await?;
    let classes = engine.plan().classes();
    Ok(Evaluation::from_predictions(&data.labels, &predictions, classes))
}

/// The mean softmax cross-entropy of `logits` ([images, classes], row-major) against `labels`,
/// computed in f64 by log-sum-exp (NaN for no images): what PyTorch's MNIST example prints as the
/// test set's average loss.
pub fn mean_cross_entropy(logits: &[f32], labels: &[u8], classes: usize) -> f64 {
    let mut total = 0.0;
    for (row, &label) in logits.chunks_exact(classes).zip(labels) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum: f64 = row.iter().map(|&z| f64::from(z - max).exp()).sum();
        total += sum.ln() - f64::from(row[label as usize] - max);
    }
    total / labels.len() as f64
}

/// `evaluate_with_loss_async`, waiting for it (native only).
#[cfg(not(target_arch = "wasm32"))]
pub fn evaluate_with_loss(engine: &mut dyn Engine, data: &Dataset) -> Result<(Evaluation, f64)> {
    pollster::block_on(evaluate_with_loss_async(engine, data))
}

/// Runs `engine` over `data` and scores its logits: the evaluation (predictions are the logits'
/// argmax, ties to the lowest class, as both paths' own predictions) and the mean cross-entropy
/// (`mean_cross_entropy`). Either path's logits go through the same arithmetic here.
pub async fn evaluate_with_loss_async(engine: &mut dyn Engine, data: &Dataset) -> Result<(Evaluation, f64)> {
    let (evaluation, loss, _) = evaluate_with_logits_async(engine, data).await?;
    Ok((evaluation, loss))
}

/// `evaluate_with_logits_async`, waiting for it (native only).
#[cfg(not(target_arch = "wasm32"))]
pub fn evaluate_with_logits(engine: &mut dyn Engine, data: &Dataset) -> Result<(Evaluation, f64, Vec<f32>)> {
    pollster::block_on(evaluate_with_logits_async(engine, data))
}

/// `evaluate_with_loss_async`, and the logits it scored ([images, classes], row-major): for
/// `mistakes`, without running the network twice.
pub async fn evaluate_with_logits_async(
    engine: &mut dyn Engine,
    data: &Dataset,
) -> Result<(Evaluation, f64, Vec<f32>)> {
    check_fits(engine.plan(), data)?;
    let classes = engine.plan().classes();
    let logits = logits_async(engine, data).await?;
    let (evaluation, loss) = score(&logits, &data.labels, classes);
    Ok((evaluation, loss, logits))
}

/// The evaluation of `logits` ([images, classes]) against `labels` (predictions are the logits'
/// argmax, ties to the lowest class), and their mean cross-entropy (`mean_cross_entropy`).
pub fn score(logits: &[f32], labels: &[u8], classes: usize) -> (Evaluation, f64) {
    let predictions: Vec<u8> =
        logits.chunks_exact(classes).map(|row| crate::model::argmax(row) as u8).collect();
    (Evaluation::from_predictions(labels, &predictions, classes), mean_cross_entropy(logits, labels, classes))
}

/// One image the network got wrong.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mistake {
    /// Its index in the data set.
    pub index: usize,
    pub label: u8,
    pub predicted: u8,
    /// The softmax probability the network gave the class it predicted.
    pub confidence: f64,
}

/// Every image whose prediction (the logits' argmax, as `evaluate_with_loss` counts it) is not
/// its label, the most confident mistakes first (ties: the lower index).
pub fn mistakes(logits: &[f32], labels: &[u8], classes: usize) -> Vec<Mistake> {
    let mut wrong: Vec<Mistake> = logits
        .chunks_exact(classes)
        .zip(labels)
        .enumerate()
        .filter_map(|(index, (row, &label))| {
            let predicted = crate::model::argmax(row);
            (predicted != label as usize).then(|| Mistake {
                index,
                label,
                predicted: predicted as u8,
                confidence: softmax(row)[predicted],
            })
        })
        .collect();
    wrong.sort_by(|a, b| b.confidence.total_cmp(&a.confidence).then(a.index.cmp(&b.index)));
    wrong
}

/// Softmax of one row of logits, in f64 (stable: the largest logit is subtracted first).
pub fn softmax(logits: &[f32]) -> Vec<f64> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f64> = logits.iter().map(|&z| f64::from(z - max).exp()).collect();
    let sum: f64 = exp.iter().sum();
    exp.iter().map(|e| e / sum).collect()
}

/// The `k` largest probabilities with their classes, largest first (ties: the lower class).
pub fn top_k(probabilities: &[f64], k: usize) -> Vec<(usize, f64)> {
    let mut ranked: Vec<usize> = (0..probabilities.len()).collect();
    ranked.sort_by(|&a, &b| probabilities[b].total_cmp(&probabilities[a]));
    ranked.into_iter().take(k).map(|c| (c, probabilities[c])).collect()
}
