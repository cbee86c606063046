//! The model a `Lab` trains: what it reads in a drawn digit, conv1's kernels, and saving and
//! loading it as the CLI's checkpoints.

use super::{DataKind, Kernels, Lab, Reading, SYNTHETIC_TRAIN, open_session};
use lenet_gpu::checkpoint;
use lenet_gpu::data::{mnist, preprocess};
use lenet_gpu::session::{DataIdentity, RunRecord, SavedModel, softmax};
use lenet_gpu::train::TrainConfig;
use lenet_gpu::{Error, Result};
use std::path::Path;

impl Lab {
    /// The ten class probabilities of the digit in a grayscale picture (`width` x `height`, 0
    /// black .. 65535 white, either polarity), made MNIST-style as `lenet predict` makes a file.
    pub async fn predict(&mut self, gray: &[u16], width: usize, height: usize) -> Result<Reading> {
        let input = preprocess::mnist_style(gray, width, height)?;
        let logits = self.session.engine().logits_async(&preprocess::dataset(&[input])).await?;
        Ok(Reading { probabilities: softmax(&logits), input: input.to_vec() })
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
        let params = self.session.parameters_async().await?;
        let (dataset, examples, epochs) = match &self.cursor {
            Some(c) => {
                let collection = (c.dataset == DataKind::Mnist).then_some(mnist::Collection::Mnist);
                (collection, c.order.len(), c.epochs_done())
            }
            None => (None, SYNTHETIC_TRAIN, 0),
        };
        let config = TrainConfig {
            epochs: epochs.max(1),
            batch_size: self.batch_size,
            optimizer: self.optimizer,
            seed: self.seed,
            ..Default::default()
        };
        let record = RunRecord::new(&self.network, &config, &DataIdentity::of(dataset, examples), epochs);
        checkpoint::to_bytes(&params, record.to_metadata())
    }

    /// Replaces the model with a saved one (its network and parameters; a fresh optimizer, and
    /// training starts a new pass over the data).
    pub async fn load(&mut self, bytes: &[u8]) -> Result<String> {
        let model = SavedModel::from_bytes(bytes, Path::new("the loaded model"), None)?;
        let interrupt = self.session.interrupt();
        let mut session = open_session(
            self.backend,
            &model.network,
            model.params,
            self.optimizer,
            self.seed,
            self.batch_size,
        )
        .await?;
        session.engine().set_interrupt(interrupt);
        self.session = session;
        self.network = model.network;
        self.cursor = None;
        Ok(self.network_title())
    }
}
