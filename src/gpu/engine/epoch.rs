//! A training epoch on the GPU: its steps recorded a submission at a time, each sized to about
//! `TARGET_SECONDS` of GPU work from the measured time of the ones before (`Sizer`), at most
//! `IN_FLIGHT` submissions queued at once, each followed by a readback of its steps' loss that
//! the loop awaits before queueing another. From each readback progress is reported step by step, in
//! order. Natively awaiting a readback is a blocking wait for that submission (the next one is
//! already queued, so the GPU never idles); in a browser it yields to the page until the browser
//! resolves the mapping, so drawing and input interleave with training.

use super::GpuEngine;
use crate::data::Dataset;
use crate::gpu::readback::{Mapping, map_read};
use crate::train::Progress;
use crate::{Error, Result};
use std::collections::VecDeque;
use std::ops::Range;
use web_time::Instant;

/// Submissions queued at once: one running, one waiting behind it, so the GPU stays busy while
/// the CPU reads back and reports the one before, and an interrupt or a frame never waits for
/// more than two submissions.
pub(super) const IN_FLIGHT: usize = 2;

/// A submission whose loss figures are on their way back.
struct Submission {
    /// Its steps, `first..end` of the call.
    first: usize,
    end: usize,
    /// Which staging buffer its figures come back through.
    staging: usize,
    index: wgpu::SubmissionIndex,
    mapping: Mapping,
    /// Seconds into the epoch when its recording started.
    recorded_at: f64,
    /// Seconds into the epoch when it was seen finished right after `submit` returned (a
    /// backend that runs the work inside `submit`), else None: it is timed to its readback.
    done_at: Option<f64>,
}

/// Steps in a submission before anything has been measured (an engine's first, or the first
/// after the batch size changed): one, since a step may take a large fraction of a second (0.3 s
/// on a software adapter), and the first two submissions, queued before either is timed, are
/// what an interrupt waits for at the start.
pub(super) const FIRST_STEPS: usize = 1;
/// The GPU time a submission aims at: short enough that a frame or an interrupt never waits long
/// behind the queue, long enough that submitting and reading back cost little beside it.
const TARGET_SECONDS: f64 = 0.1;
/// Steps per submission, adapted toward `TARGET_SECONDS` of GPU work from the time the
/// submission just read back (`last_steps` steps) took, growing at most `train::MAX_GROWTH`-fold over
/// both it and `queued_last`, the submission queued last, which the next one follows (with two
/// in flight, the one read back is not the one before). It changes only the grouping of steps:
/// every step's arithmetic, its uniforms and its loss slot are the same whatever the grouping,
/// so no number depends on it.
pub(super) fn next_submission_steps(last_steps: usize, seconds: f64, queued_last: usize) -> usize {
    crate::train::items_for(TARGET_SECONDS, last_steps, seconds, last_steps.min(queued_last))
}

impl GpuEngine {
    /// `Engine::train_steps_async` on the GPU.
    pub(super) async fn run_steps(
        &mut self,
        data: &Dataset,
        order: &[u32],
        examples: Range<usize>,
        batch_size: usize,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Progress> {
        crate::train::check_epoch(data, order, &examples, batch_size)?;
        self.check_trains()?;
        self.gpu.check_errors()?; // a device lost earlier fails here, before anything is recorded
        if examples.is_empty() {
            return Ok(Progress::default());
        }
        // No bigger than the call: buffers for examples that never come would only waste memory.
        let batch_size = batch_size.min(examples.len());
        let steps = examples.len().div_ceil(batch_size);
        self.ensure_network(batch_size)?;
        self.ensure_data(data, order.len(), true)?;
        self.ensure_steps(steps);
        self.ensure_epoch_stats(steps);
        let resident = self.train_data.as_ref().expect("training data resident");
        // The call's only uploads: the epoch's order and its steps' uniforms.
        self.gpu.queue.write_buffer(&resident.order, 0, bytemuck::cast_slice(order));
        self.write_steps(examples.clone(), batch_size, self.updates, self.augmentation);

        let net = self.network.as_ref().and_then(|n| n.training.as_ref()).expect("a training step built");
        let stats = self.epoch_stats.as_ref().expect("stats allocated");
        let step_group = &self.steps.as_ref().expect("steps allocated").group;
        let start = Instant::now();
        self.last_submissions.clear();
        // When the GPU became free for the submission now running: the later of its recording's
        // start and the previous readback.
        let mut free_since = 0.0f64;
        let mut reported_seconds = 0.0;
        let mut totals = Progress::default();
        let mut in_flight = VecDeque::with_capacity(IN_FLIGHT);
        let (mut next, mut submitted) = (0, 0);
        loop {
            // Diverged: the caller reports it; later steps would only compute NaNs.
            let diverged = totals.diverged_at_step.is_some() || !totals.loss_sum.is_finite();
            while in_flight.len() < IN_FLIGHT && next < steps && !diverged && !self.interrupt.requested() {
                if self.lose_device_after.is_some_and(|n| self.updates >= n) {
                    self.gpu.simulate_device_loss();
                }
                let (first, end) = (next, (next + self.submission_steps).min(steps));
                let recorded_at = start.elapsed().as_secs_f64();
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
                    }
                }
                // The staging buffer of the submission two back, whose figures are in.
                let staging = submitted % IN_FLIGHT;
                let bytes = ((end - first) * 8) as u64;
                encoder.copy_buffer_to_buffer(
                    &stats.stats,
                    (first * 8) as u64,
                    &stats.staging[staging],
                    0,
                    bytes,
                );
                let index = self.gpu.submit(encoder.finish());
                self.gpu.count_readback();
                self.updates += (end - first) as u64;
                let mapping = map_read(&stats.staging[staging]);
                // Done already (wgpu's GL backend on llvmpipe runs it inside `submit`): timed to
                // here, not to its readback, which waits for the next submission to run too.
                let done_at = self.gpu.queue_empty().then(|| start.elapsed().as_secs_f64());
                in_flight.push_back(Submission { first, end, staging, index, mapping, recorded_at, done_at });
                self.last_submissions.push(end - first);
                (next, submitted) = (end, submitted + 1);
            }
            let Some(done) = in_flight.pop_front() else { break };
            self.gpu.await_mapping(done.index, done.mapping, "reading the loss back").await?;
            let now = start.elapsed().as_secs_f64();
            let staging = &stats.staging[done.staging];
            let values: Vec<f32> = {
                let view = staging
                    .get_mapped_range(..((done.end - done.first) * 8) as u64)
                    .map_err(|e| self.gpu.failure("reading the loss back", e))?;
                bytemuck::pod_collect_to_vec(&view)
            };
            staging.unmap();
            let count = done.end - done.first;
            let finished = done.done_at.unwrap_or(now);
            let busy = finished - free_since.max(done.recorded_at);
            free_since = finished;
            let queued_last = self.last_submissions.last().copied().unwrap_or(count);
            self.submission_steps = next_submission_steps(count, busy, queued_last);
            if diverged {
                continue; // training stopped at the end of the submission holding the bad step
            }
            // Its steps one by one, in order, with the time since the last report spread evenly
            // over them: the GPU only shows when a whole submission is done.
            for (i, (step, pair)) in (done.first..done.end).zip(values.chunks_exact(2)).enumerate() {
                totals.images_done += batch_size.min(examples.len() - step * batch_size);
                totals.loss_sum += pair[0] as f64;
                totals.correct += pair[1] as u64;
                totals.steps_done += 1;
                if !pair[0].is_finite() && totals.diverged_at_step.is_none() {
                    totals.diverged_at_step = Some(step + 1);
                }
                totals.seconds = reported_seconds + (now - reported_seconds) * (i + 1) as f64 / count as f64;
                progress(totals);
            }
            reported_seconds = now;
        }
        let diverged = totals.diverged_at_step.is_some() || !totals.loss_sum.is_finite();
        if next < steps && !diverged {
            // Interrupted: every step queued has been trained and reported.
            return Err(Error::Interrupted { steps_done: totals.steps_done });
        }
        Ok(totals)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submissions_grow_toward_a_tenth_of_a_second_and_shrink_at_once() {
        // 60 ms a step (lavapipe at batch 64): 2 steps make about 100 ms.
        assert_eq!(next_submission_steps(4, 0.24, 4), 2);
        // 1 ms a step: 100 steps, reached by growing at most 4 times a submission.
        assert_eq!(next_submission_steps(4, 0.004, 4), 16);
        assert_eq!(next_submission_steps(64, 0.064, 64), 100);
        // A step slower than the target: one step a submission.
        assert_eq!(next_submission_steps(8, 4.0, 8), 1);
        // Too fast to measure: grow.
        assert_eq!(next_submission_steps(4, 0.0, 4), 16);
    }

    #[test]
    fn growth_is_bounded_by_the_submission_queued_last_too() {
        // Read back: 4 fast steps; queued since: 1 step. The next follows the 1-step one.
        assert_eq!(next_submission_steps(4, 0.004, 1), 4);
        // Shrinking still follows the measurement alone.
        assert_eq!(next_submission_steps(4, 0.4, 16), 1);
    }
}
