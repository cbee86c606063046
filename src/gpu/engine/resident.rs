//! What stays on the GPU between steps and epochs, each built on first use and rebuilt only when
//! a batch size or data set changes: the data sets, the per-step uniforms, the loss statistics
//! and their staging buffers, the predictions.

use super::GpuEngine;
use super::epoch::IN_FLIGHT;
use crate::data::Dataset;
use crate::data::augment::EpochShift;
use crate::error::GpuError;
use crate::gpu::kernels::gather::{gather_levels, pack_images};
use crate::gpu::kernels::{Dispatch, STEP_SIZE, StepUniform, pack_bytes, step_group};
use crate::{Error, Result};

/// Storage buffers, which may be copied to and from.
pub(super) fn storage() -> wgpu::BufferUsages {
    wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST
}

/// A data set resident on the GPU (bytes packed four to a u32), with its gather kernel bound to
/// the batch buffers.
/// What a gather kernel is built for: the images' channels, rows and columns, the batch, and
/// where the images split between its two bindings.
pub(super) type GatherKey = (usize, usize, usize, usize, usize);

pub(super) struct ResidentData {
    /// A hash of the `Dataset` this was uploaded from: its contents, not its address, so a new
    /// data set that happens to reuse freed memory is never mistaken for the old one.
    pub(super) key: u64,
    /// How many indices the order buffer holds.
    pub(super) order_capacity: usize,
    pub(super) order: wgpu::Buffer,
    pub(super) gather: Dispatch,
}

/// Every call of an epoch (a page trains one in many calls) computes this over the whole data
/// set, so it reads eight bytes at a time with one multiply each (MNIST's 47 MB: milliseconds,
/// where SipHash took a frame's time in a browser); it tells data sets apart, not adversaries.
fn data_key(data: &Dataset) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mix = |h: u64, word: u64| (h.rotate_left(23) ^ word).wrapping_mul(K);
    let mut h = mix(mix(mix(0, data.channels as u64), data.rows as u64), data.cols as u64);
    for bytes in [&data.images, &data.labels] {
        h = mix(h, bytes.len() as u64);
        let words = bytes.chunks_exact(8);
        let tail = words.remainder().iter().fold(0u64, |t, &b| (t << 8) | b as u64);
        h = words.fold(h, |h, w| mix(h, u64::from_le_bytes(w.try_into().expect("8 bytes"))));
        h = mix(h, tail);
    }
    h ^ (h >> 29)
}

/// Per-step uniforms, one per aligned slot, and the bind group that selects one by offset.
pub(super) struct StepUniforms {
    pub(super) capacity: usize,
    pub(super) buffer: wgpu::Buffer,
    pub(super) group: wgpu::BindGroup,
}

/// Per-epoch loss statistics (two floats per step), the staging buffers they are read back
/// through (one per submission in flight, each able to hold the whole epoch's), and the loss
/// kernel bound to them.
pub(super) struct EpochStats {
    pub(super) capacity: usize,
    pub(super) stats: wgpu::Buffer,
    pub(super) staging: Vec<wgpu::Buffer>,
    pub(super) loss: Dispatch,
}

/// Predicted classes of an evaluated set, and the predict kernel bound to them.
pub(super) struct Predictions {
    pub(super) capacity: usize,
    pub(super) buffer: wgpu::Buffer,
    pub(super) predict: Dispatch,
}

impl GpuEngine {
    /// Builds the batch-sized buffers and dispatches, unless they exist for this batch size.
    pub(super) fn ensure_network(&mut self, batch: usize) -> Result<()> {
        if self.network.as_ref().is_some_and(|n| n.batch == batch) {
            return Ok(());
        }
        // Everything bound to the old batch buffers must be bound again.
        self.train_data = None;
        self.eval_data = None;
        self.epoch_stats = None;
        self.predictions = None;
        self.submission_steps = super::epoch::FIRST_STEPS; // a step of another size takes another time
        self.network = Some(self.build_network(batch)?);
        self.gpu.check_errors()
    }

    /// Uploads `data` (unless it is already resident in `slot`) and binds its gather kernel.
    /// `order_len` is the longest order it will be read through (an epoch may visit examples
    /// more than once).
    pub(super) fn ensure_data(&mut self, data: &Dataset, order_len: usize, for_training: bool) -> Result<()> {
        let key = data_key(data);
        let slot = if for_training { &self.train_data } else { &self.eval_data };
        if slot.as_ref().is_some_and(|d| d.key == key && d.order_capacity >= order_len) {
            return Ok(());
        }
        let net = self.network.as_ref().expect("network built before data");
        let gpu = &self.gpu;
        // Over one binding's limit the images are split across the gather's two (CIFAR-10's
        // 146 MiB against WebGPU's default 128 MiB).
        let limit = self.binding_limit();
        let Some(packed) = pack_images(data, limit) else {
            return Err(Error::Gpu(GpuError::DataTooLarge {
                images: data.len(),
                bytes: data.images.len() as u64,
                device: gpu.name(),
                binding_bytes: limit,
            }));
        };
        let low = gpu.create_buffer_init("images", bytemuck::cast_slice(&packed.low), storage());
        let high =
            gpu.create_buffer_init("images past the split", bytemuck::cast_slice(&packed.high), storage());
        let labels =
            gpu.create_buffer_init("labels", bytemuck::cast_slice(&pack_bytes(&data.labels)), storage());
        let levels = gpu.create_buffer_init("levels", bytemuck::cast_slice(&gather_levels(data)), storage());
        let order_capacity = order_len.max(data.len());
        let order = gpu.create_buffer("order", (order_capacity * 4) as u64, storage());
        let gather_key = (data.channels, data.rows, data.cols, net.batch, packed.split);
        if !self.gathers.iter().any(|(k, _)| *k == gather_key) {
            let kernel = self.kernels().gather(data, packed.split, net.batch)?;
            self.gathers.push((gather_key, kernel));
        }
        let kernel = &self.gathers.iter().find(|(k, _)| *k == gather_key).expect("built above").1;
        let (gpu, net) = (&self.gpu, self.network.as_ref().expect("network built before data"));
        let gather = kernel.bind(gpu, &[&low, &labels, &order, &net.input, &net.labels, &high, &levels]);
        let resident = ResidentData { key, order_capacity, order, gather };
        if for_training {
            self.train_data = Some(resident);
        } else {
            self.eval_data = Some(resident);
        }
        self.gpu.check_errors()
    }

    /// Makes room for `steps` per-step uniforms.
    pub(super) fn ensure_steps(&mut self, steps: usize) {
        if self.steps.as_ref().is_some_and(|s| s.capacity >= steps) {
            return;
        }
        let buffer = self.gpu.create_buffer(
            "step uniforms",
            steps as u64 * self.step_stride,
            wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        );
        let group = step_group(&self.gpu, &self.step_layout, &buffer);
        self.steps = Some(StepUniforms { capacity: steps, buffer, group });
    }

    /// Makes room for the loss statistics of `steps` steps, and binds the loss kernel to them.
    pub(super) fn ensure_epoch_stats(&mut self, steps: usize) {
        if self.epoch_stats.as_ref().is_some_and(|s| s.capacity >= steps) {
            return;
        }
        let gpu = &self.gpu;
        let net = self.network.as_ref().expect("network built before stats");
        let training = net.training.as_ref().expect("a training step built before stats");
        let bytes = (steps * 2 * 4) as u64;
        let stats = gpu.create_buffer("loss statistics", bytes, storage());
        let staging = (0..IN_FLIGHT)
            .map(|_| {
                gpu.create_buffer(
                    "loss readback",
                    bytes,
                    wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                )
            })
            .collect();
        let loss = training.loss_kernel.bind(gpu, &[&net.logits, &net.labels, &training.d_logits, &stats]);
        self.epoch_stats = Some(EpochStats { capacity: steps, stats, staging, loss });
    }

    /// Makes room for `len` predictions, and binds the predict kernel to them.
    pub(super) fn ensure_predictions(&mut self, len: usize) {
        if self.predictions.as_ref().is_some_and(|p| p.capacity >= len) {
            return;
        }
        let net = self.network.as_ref().expect("network built before predictions");
        let buffer = self.gpu.create_buffer("predictions", (len * 4) as u64, storage());
        let predict = net.predict_kernel.bind(&self.gpu, &[&net.logits, &buffer]);
        self.predictions = Some(Predictions { capacity: len, buffer, predict });
    }

    /// Writes the uniforms of the steps that cover positions `examples` of the order in batches
    /// of `batch`, the first being update `first_update + 1`: each with its update's learning
    /// rate and weight decay (`rule`), so a schedule costs no upload beyond the call's uniforms;
    /// and the gather's shifts, `shift` (training only).
    pub(super) fn write_steps(
        &self,
        examples: std::ops::Range<usize>,
        batch: usize,
        first_update: u64,
        shift: Option<EpochShift>,
    ) {
        let steps = self.steps.as_ref().expect("step uniforms allocated");
        let stride = self.step_stride as usize;
        let mut bytes = vec![0u8; examples.len().div_ceil(batch) * stride];
        for (i, start) in examples.clone().step_by(batch).enumerate() {
            let count = batch.min(examples.end - start);
            let update = first_update + i as u64;
            let rates = self.rule.rates(&self.optimizer, update);
            let uniform =
                StepUniform::new(start, count, i, &self.optimizer, update + 1, rates).shifted(shift);
            bytes[i * stride..i * stride + STEP_SIZE as usize].copy_from_slice(bytemuck::bytes_of(&uniform));
        }
        self.gpu.queue.write_buffer(&steps.buffer, 0, &bytes);
    }

    /// Makes `data` resident for inference, in its own order, with the step uniforms written
    /// for the current batch size. Returns the batch size and the number of steps.
    pub(super) fn prepare_inference(&mut self, data: &Dataset) -> Result<(usize, usize)> {
        let batch = self.network.as_ref().map_or(256, |n| n.batch);
        let steps = data.len().div_ceil(batch);
        self.ensure_network(batch)?;
        self.ensure_data(data, data.len(), false)?;
        self.ensure_steps(steps);
        let resident = self.eval_data.as_ref().expect("evaluation data resident");
        let identity: Vec<u32> = (0..data.len() as u32).collect();
        self.gpu.queue.write_buffer(&resident.order, 0, bytemuck::cast_slice(&identity));
        self.write_steps(0..data.len(), batch, self.updates, None);
        Ok((batch, steps))
    }
}
