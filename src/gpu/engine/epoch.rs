//! A training epoch on the GPU: its steps recorded a submission at a time, each submission
//! followed by a non-blocking readback of its steps' loss, from which progress is reported step
//! by step, in order.

use super::{GpuEngine, SUBMISSIONS_PER_EPOCH};
use crate::Result;
use crate::data::Dataset;
use crate::train::Progress;
use std::sync::mpsc;

impl GpuEngine {
    /// `Engine::train_epoch` on the GPU.
    pub(super) fn run_epoch(
        &mut self,
        data: &Dataset,
        order: &[u32],
        batch_size: usize,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Progress> {
        crate::train::check_epoch(data, order, batch_size)?;
        self.gpu.check_errors()?; // a device lost earlier fails here, before anything is recorded
        if order.is_empty() {
            return Ok(Progress::default());
        }
        // No bigger than the epoch: buffers for examples that never come would only waste memory.
        let batch_size = batch_size.min(order.len());
        let steps = order.len().div_ceil(batch_size);
        self.ensure_network(batch_size)?;
        self.ensure_data(data, order.len(), true)?;
        self.ensure_steps(steps);
        self.ensure_epoch_stats(steps);
        let resident = self.train_data.as_ref().expect("training data resident");
        // The epoch's only uploads: its order and its step uniforms.
        self.gpu.queue.write_buffer(&resident.order, 0, bytemuck::cast_slice(order));
        self.write_steps(order.len(), batch_size, self.updates);

        let net = self.network.as_ref().expect("network built");
        let stats = self.epoch_stats.as_ref().expect("stats allocated");
        let step_group = &self.steps.as_ref().expect("steps allocated").group;
        let per_submission = steps.div_ceil(SUBMISSIONS_PER_EPOCH);
        let chunks: Vec<(usize, usize)> =
            (0..steps).step_by(per_submission).map(|s| (s, (s + per_submission).min(steps))).collect();
        let start = web_time::Instant::now();
        let mut reported_seconds = 0.0;
        // Reports the steps of the finished submissions `ready`, one by one and in order, with
        // the time since the last report spread evenly over them: the GPU only shows when a
        // whole submission is done.
        let mut report = |ready: &mut Vec<usize>, totals: &mut Progress| -> Result<()> {
            ready.sort_unstable(); // one queue finishes in order; sorting makes sure of it
            let now = start.elapsed().as_secs_f64();
            let steps: usize = ready.iter().map(|&c| chunks[c].1 - chunks[c].0).sum();
            let mut done = 0;
            for &chunk in ready.iter() {
                let (first, end) = chunks[chunk];
                let staging = &stats.staging[chunk];
                let values: Vec<f32> = {
                    let view = staging
                        .get_mapped_range(..(end * 8) as u64)
                        .map_err(|e| self.gpu.failure("reading the loss back", e))?;
                    bytemuck::pod_collect_to_vec(&view[first * 8..end * 8])
                };
                staging.unmap();
                for (step, pair) in (first..end).zip(values.chunks_exact(2)) {
                    done += 1;
                    totals.images_done += batch_size.min(order.len() - step * batch_size);
                    totals.loss_sum += pair[0] as f64;
                    totals.correct += pair[1] as u64;
                    totals.steps_done += 1;
                    if !pair[0].is_finite() && totals.diverged_at_step.is_none() {
                        totals.diverged_at_step = Some(step + 1);
                    }
                    totals.seconds = reported_seconds + (now - reported_seconds) * done as f64 / steps as f64;
                    progress(*totals);
                }
            }
            reported_seconds = now;
            ready.clear();
            Ok(())
        };
        let (done_tx, done_rx) = mpsc::channel();
        let mut totals = Progress::default();
        let (mut submitted, mut received) = (0, 0);
        let mut ready = Vec::new();
        for (chunk, &(first, end)) in chunks.iter().enumerate() {
            if !totals.loss_sum.is_finite() {
                break; // diverged: the caller reports it; later steps would only compute NaNs
            }
            if self.lose_device_after.is_some_and(|n| self.updates >= n) {
                self.gpu.simulate_device_loss();
            }
            let mut encoder = self.gpu.device.create_command_encoder(&Default::default());
            {
                let mut pass = encoder.begin_compute_pass(&Default::default());
                for step in first..end {
                    let offset = Some((step_group, (step as u64 * self.step_stride) as u32));
                    self.record_forward(&mut pass, resident, offset);
                    stats.loss.record(&mut pass, offset);
                    for d in &net.backward {
                        d.record(&mut pass, offset);
                    }
                    net.optimizer.record(&mut pass, offset);
                }
            }
            let (from, bytes) = ((first * 8) as u64, ((end - first) * 8) as u64);
            encoder.copy_buffer_to_buffer(&stats.stats, from, &stats.staging[chunk], from, bytes);
            self.gpu.submit(encoder.finish());
            self.gpu.count_readback();
            submitted += 1;
            self.updates += (end - first) as u64;
            let tx = done_tx.clone();
            stats.staging[chunk].map_async(wgpu::MapMode::Read, .., move |r| {
                let _ = tx.send((chunk, r));
            });
            // Take in whatever has finished, without waiting.
            let _ = self.gpu.device.poll(wgpu::PollType::Poll);
            while let Ok((done, result)) = done_rx.try_recv() {
                result.map_err(|e| self.gpu.failure("reading the loss back", e))?;
                ready.push(done);
                received += 1;
            }
            if !ready.is_empty() {
                report(&mut ready, &mut totals)?;
            }
        }
        drop(done_tx); // so a callback that never comes ends the wait below instead of hanging it
        self.gpu.wait()?;
        while received < submitted {
            let (done, result) =
                done_rx.recv().map_err(|_| self.gpu.failure("reading the loss back", "it never arrived"))?;
            result.map_err(|e| self.gpu.failure("reading the loss back", e))?;
            ready.push(done);
            received += 1;
        }
        if !ready.is_empty() {
            report(&mut ready, &mut totals)?;
        }
        Ok(totals)
    }
}
