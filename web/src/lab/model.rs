//! The model a `Lab` trains: what it reads in a drawn digit, conv1's kernels, and saving and
//! loading it as the CLI's checkpoints.

use super::{Kernels, Lab, Reading, open_session};
use lenet_gpu::data::preprocess;
use lenet_gpu::session::{SavedModel, softmax};
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
