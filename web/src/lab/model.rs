//! The model a `Lab` trains: what it reads in a drawn digit, conv1's kernels, and saving and
//! loading it as the CLI's checkpoints.

use super::{Backend, DataKind, FeatureMaps, Filtered, Kernels, Lab, Reading, open_session};
use lenet_gpu::convolve::{NamedKernel, Plane, convolve_on_cpu, to_gray8};
use lenet_gpu::data::preprocess;
use lenet_gpu::model::fusion::layer_label;
use lenet_gpu::model::{Parameters, arch};
use lenet_gpu::session::{Quiet, SavedModel, TrainConfig, softmax};
use lenet_gpu::{Error, Result};
use std::path::Path;

impl Lab {
    /// The ten class probabilities of the digit in a grayscale picture (`width` x `height`, 0
    /// black .. 65535 white, either polarity), made MNIST-style as `lenet predict` makes a file.
    pub async fn predict(&mut self, gray: &[u16], width: usize, height: usize) -> Result<Reading> {
        let input = preprocess::mnist_style(gray, width, height)?;
        let logits = self.session.logits_async(&preprocess::dataset(&[input])).await?;
        Ok(Reading { probabilities: softmax(&logits), input: input.to_vec() })
    }

    /// The ten class probabilities of a 28x28 image taken as it is (a test image the page shows),
    /// with no preparation: what the network read in it when it was scored.
    pub async fn read_input(&mut self, input: &[u8]) -> Result<Reading> {
        let image = as_image(input)?;
        let logits = self.session.logits_async(&preprocess::dataset(&[image])).await?;
        Ok(Reading { probabilities: softmax(&logits), input: input.to_vec() })
    }

    /// Makes while the page loads what the first drawing and the first Train would otherwise
    /// wait for: on a GPU the pipelines and buffers that read a digit (run once on a blank
    /// image) and those that train; on the CPU path, optimized code for a training step.
    pub async fn warm_up(&mut self) -> Result<()> {
        let blank = [0u8; preprocess::SIDE * preprocess::SIDE];
        self.session.logits_async(&preprocess::dataset(&[blank])).await?;
        self.features(&blank).await?;
        self.session.prepare_training()?;
        match self.backend {
            // A browser compiles pipelines in its GPU process, in order: a readback behind
            // them resolves when they are made, so the page says "preparing" until then.
            Backend::WebGpu => drop(self.session.parameters_async().await?),
            Backend::Cpu => self.warm_up_cpu_step().await?,
        }
        Ok(())
    }

    /// A browser first runs wasm through a quick compiler and optimizes a function once it has
    /// run a while, so the first training step takes about three times a later one (a 60 ms
    /// frame gap). A step of a throwaway copy of the network, whose weights are dropped, runs
    /// that first one while the page loads.
    async fn warm_up_cpu_step(&mut self) -> Result<()> {
        let network = self.session.network().clone();
        let params = Parameters::init(self.session.plan(), self.seed);
        let config = self.session.config().expect("a training session").clone();
        let mut copy = open_session(Backend::Cpu, &network, params, config).await?;
        let split = self.split(DataKind::Synthetic)?;
        copy.train_steps_async(split, 1, &mut Quiet).await?;
        Ok(())
    }

    /// The feature maps of every convolution (and pool) the network computes for `input`, a
    /// 28x28 image as `predict` prepared it: what the network sees in the drawn digit.
    pub async fn features(&mut self, input: &[u8]) -> Result<Vec<FeatureMaps>> {
        let image = as_image(input)?;
        let outputs = self.session.activations_async(&preprocess::dataset(&[image])).await?;
        let plan = self.session.plan();
        Ok(outputs
            .into_iter()
            .filter_map(|o| {
                let shape = plan.layers[o.layer].output;
                (shape.height > 1).then(|| FeatureMaps {
                    label: layer_label(plan, o.layer),
                    channels: shape.channels,
                    height: shape.height,
                    width: shape.width,
                    values: o.values,
                })
            })
            .collect())
    }

    /// The lesson's kernels (its vertical and horizontal edges, an outline, a blur) applied to
    /// `input`, a 28x28 image, with padding 1 (the CPU op, as `lenet convolve` applies them).
    pub fn lesson_kernels(&self, input: &[u8]) -> Result<Vec<Filtered>> {
        let side = preprocess::SIDE;
        let rows: Vec<Vec<f32>> =
            input.chunks(side).map(|r| r.iter().map(|&v| f32::from(v) / 255.0).collect()).collect();
        let image = Plane::from_rows(&rows)?;
        ["vertical-edge", "horizontal-edge", "outline", "blur"]
            .into_iter()
            .map(|name| {
                let named = NamedKernel::find(name).expect("a named kernel");
                let out = convolve_on_cpu(&image, &named.kernel(), 1, 1)?;
                Ok(Filtered {
                    name: named.name,
                    does: named.does,
                    width: out.width,
                    height: out.height,
                    pixels: to_gray8(&out),
                })
            })
            .collect()
    }

    /// conv1's kernels as they are now.
    pub async fn kernels(&self) -> Result<Kernels> {
        let params = self.session.parameters_async().await?;
        let view =
            params.views.first().filter(|v| v.shape.len() == 4).ok_or_else(|| {
                Error::InvalidArgument("the network does not start with a convolution".into())
            })?;
        let (count, channels) = (view.shape[0], view.shape[1]);
        let (height, width) = (view.shape[2], view.shape[3]);
        // One picture a kernel: its first input channel.
        let values = (0..count)
            .flat_map(|k| {
                let start = view.offset + k * channels * height * width;
                params.values[start..start + height * width].iter().copied()
            })
            .collect();
        Ok(Kernels { count, height, width, values })
    }

    /// The model as the CLI saves it (safetensors, PyTorch's names), with the metadata of this
    /// lab's run: `lenet eval --model` evaluates it on the data it was trained on.
    pub async fn save(&self) -> Result<Vec<u8>> {
        self.session.to_bytes_async().await
    }

    /// Replaces the model with a saved one (its network and parameters; a fresh optimizer, and
    /// training starts a new pass over the data).
    /// Starts over: the network initialized from the lab's seed again, a fresh optimizer state,
    /// the run at its first epoch's first step (what a reload of the page gives).
    pub async fn reset(&mut self) -> Result<()> {
        let network = self.session.network().clone();
        let params = Parameters::init(&arch::plan_for_mnist(&network)?, self.seed);
        let interrupt = self.session.interrupt();
        let config =
            TrainConfig { seed: self.seed, ..self.session.config().expect("a training session").clone() };
        let mut session = open_session(self.backend, &network, params, config).await?;
        session.set_interrupt(interrupt);
        self.session = session;
        self.reported = Default::default();
        self.plan = None;
        Ok(())
    }

    pub async fn load(&mut self, bytes: &[u8]) -> Result<String> {
        let model = SavedModel::from_bytes(bytes, Path::new("the loaded model"), None)?;
        let interrupt = self.session.interrupt();
        let config = self.session.config().expect("a training session").clone();
        let mut session = open_session(self.backend, &model.network, model.params, config).await?;
        session.set_interrupt(interrupt);
        self.session = session;
        self.reported = Default::default();
        Ok(self.network_title())
    }
}

/// `input` as a 28x28 image's bytes.
fn as_image(input: &[u8]) -> Result<[u8; preprocess::SIDE * preprocess::SIDE]> {
    input
        .try_into()
        .map_err(|_| Error::InvalidArgument(format!("a 28x28 image has 784 bytes, not {}", input.len())))
}
