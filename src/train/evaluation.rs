//! Evaluation on a labelled set: accuracy and the confusion matrix, and the checks that a data
//! set fits the network.

use super::Engine;
use crate::data::Dataset;
use crate::model::Plan;
use crate::{Error, Result};

/// The network's input must be one channel of the dataset's image size, its output must have a
/// class for every label, and the dataset must hold as many images as labels.
pub(super) fn check_fits(plan: &Plan, data: &Dataset) -> Result<()> {
    let input = plan.input();
    let bad = |msg: String| Err(Error::InvalidArgument(msg));
    if input.channels != 1 || input.height != data.rows || input.width != data.cols {
        return bad(format!(
            "the network takes {input} inputs but the images are 1@{}x{}",
            data.rows, data.cols
        ));
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
    let predictions = engine.predict_async(data).await?;
    let classes = engine.plan().classes();
    Ok(Evaluation::from_predictions(&data.labels, &predictions, classes))
}
