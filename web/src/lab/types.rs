//! What the page asks a `Lab` for and gets back.

use lenet_gpu::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    WebGpu,
    Cpu,
}

impl Backend {
    pub fn key(self) -> &'static str {
        match self {
            Backend::WebGpu => "webgpu",
            Backend::Cpu => "cpu",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataKind {
    Synthetic,
    Mnist,
}

impl DataKind {
    pub fn parse(text: &str) -> Result<DataKind> {
        match text {
            "synthetic" => Ok(DataKind::Synthetic),
            "mnist" => Ok(DataKind::Mnist),
            other => Err(Error::InvalidArgument(format!(
                "unknown dataset {other:?}: use \"synthetic\" or \"mnist\""
            ))),
        }
    }
}

/// What to train.
#[derive(Clone, Debug)]
pub struct TrainRequest {
    pub steps: usize,
    pub batch_size: usize,
    pub learning_rate: f32,
    pub dataset: DataKind,
}

/// Totals of a training call so far.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TrainTotals {
    pub steps: usize,
    pub images: usize,
    pub loss_sum: f64,
    pub correct: u64,
    /// Training time, pauses included, pipeline building and data uploads not.
    pub seconds: f64,
    /// Where the Train click's epochs stand (`Lab::plan_epochs`), after the call.
    pub plan: Option<PlanState>,
}

/// Where the epochs of a Train click stand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlanState {
    /// The click's epoch its last step was in, counted from 1 (its steps by an epoch's).
    pub epoch: usize,
    /// The click's epochs: its steps by an epoch's, rounded up.
    pub epochs: usize,
    /// Whether the call ended at one of the run's epoch ends (the page evaluates there).
    pub epoch_ended: bool,
    pub steps_left: usize,
}

impl TrainTotals {
    pub fn loss(&self) -> f64 {
        self.loss_sum / self.images.max(1) as f64
    }

    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.images.max(1) as f64
    }

    pub fn images_per_second(&self) -> f64 {
        if self.seconds > 0.0 { self.images as f64 / self.seconds } else { 0.0 }
    }
}

/// What the network made of a drawn digit.
pub struct Reading {
    pub probabilities: Vec<f64>,
    /// The 28x28 image it saw (MNIST-style: 0 background, 255 strongest ink).
    pub input: Vec<u8>,
}

/// One layer's feature maps for one image: `channels` maps of `height` x `width`, row-major.
pub struct FeatureMaps {
    /// The layer, as `lenet show features` names it ("conv1+relu").
    pub label: String,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub values: Vec<f32>,
}

/// One of the lesson's kernels applied to the drawn digit, as gray levels (`convolve::to_gray8`).
pub struct Filtered {
    pub name: &'static str,
    /// What it does, in a sentence.
    pub does: &'static str,
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

/// An evaluation as the page shows it: the accuracy, the confusion matrix ([classes, classes],
/// rows the true class) and the most confident mistakes with their images.
pub struct Scored {
    pub accuracy: f64,
    pub classes: usize,
    pub confusion: Vec<u64>,
    pub mistakes: Vec<ShownMistake>,
}

/// A test image the network got wrong.
pub struct ShownMistake {
    pub label: u8,
    pub predicted: u8,
    /// The probability it gave the class it predicted.
    pub confidence: f64,
    /// The 28x28 image (0 background, 255 ink).
    pub image: Vec<u8>,
}

/// conv1's kernels, [count, height, width] row-major.
pub struct Kernels {
    pub count: usize,
    pub height: usize,
    pub width: usize,
    pub values: Vec<f32>,
}
