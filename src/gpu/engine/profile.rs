//! Profiling for benchmarks: each dispatch of a step timed alone, and the CPU cost of recording
//! a step.

use super::GpuEngine;
use crate::Result;
use crate::data::Dataset;
use crate::gpu::kernels::Dispatch;
use crate::train::Engine;

/// One kernel's timing, as `bench --kernels` reports it (the CPU path's kernels too).
#[derive(Clone, Debug, serde::Serialize)]
pub struct KernelTiming {
    pub kernel: String,
    pub seconds: f64,
    pub flops: f64,
    /// Workgroups one dispatch launches (GPU kernels; None for the CPU path's).
    pub workgroups: Option<u32>,
}

impl KernelTiming {
    pub fn gflops(&self) -> f64 {
        self.flops / self.seconds / 1e9
    }
}

impl GpuEngine {
    /// Every dispatch of a training step, in order, for benchmarks.
    fn step_dispatches(&self) -> Vec<&Dispatch> {
        let net = self.network.as_ref().expect("network built");
        let training = net.training.as_ref().expect("a training step built");
        let stats = self.epoch_stats.as_ref().expect("stats allocated");
        let data = self.train_data.as_ref().expect("training data resident");
        let mut all = vec![&data.gather];
        all.extend(&net.forward);
        all.push(&stats.loss);
        all.extend(&training.backward);
        all
    }

    /// Seconds per dispatch of a training step at `batch`, each dispatch timed alone: `repeats`
    /// copies in one compute pass, timed by GPU timestamps at the pass's start and end where the
    /// adapter has them, else by the wall time around a submission (which then includes one
    /// submission's overhead divided by `repeats`). For benchmarks: it trains on `data` and so
    /// changes the parameters. Returns the timings, and whether they come from GPU timestamps.
    pub fn profile_step(
        &mut self,
        data: &Dataset,
        batch: usize,
        repeats: usize,
    ) -> Result<(Vec<KernelTiming>, bool)> {
        let order: Vec<u32> = (0..batch.min(data.len()) as u32).collect();
        self.train_epoch(data, &order, batch, &mut |_| {})?; // builds everything
        let gpu = &self.gpu;
        let step_group = &self.steps.as_ref().expect("steps allocated").group;
        let timestamps = gpu.has_timestamps().then(|| {
            let set = gpu.device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("kernel timing"),
                ty: wgpu::QueryType::Timestamp,
                count: 2,
            });
            let resolved = gpu.create_buffer(
                "timestamps",
                16,
                wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            );
            (set, resolved)
        });
        let mut timings = Vec::new();
        for d in self.step_dispatches() {
            let mut best = f64::MAX;
            for _ in 0..3 {
                let mut encoder = gpu.device.create_command_encoder(&Default::default());
                {
                    let timestamp_writes =
                        timestamps.as_ref().map(|(set, _)| wgpu::ComputePassTimestampWrites {
                            query_set: set,
                            beginning_of_pass_write_index: Some(0),
                            end_of_pass_write_index: Some(1),
                        });
                    let mut pass = encoder
                        .begin_compute_pass(&wgpu::ComputePassDescriptor { label: None, timestamp_writes });
                    for _ in 0..repeats {
                        d.record(&mut pass, Some((step_group, 0)));
                    }
                }
                if let Some((set, resolved)) = &timestamps {
                    encoder.resolve_query_set(set, 0..2, resolved, 0);
                }
                let start = web_time::Instant::now();
                gpu.submit(encoder.finish());
                gpu.wait()?;
                let wall = start.elapsed().as_secs_f64();
                let seconds = match &timestamps {
                    Some((_, resolved)) => {
                        let ticks = gpu.read_buffer(resolved, 0, 16)?;
                        let ticks: Vec<u64> = bytemuck::pod_collect_to_vec(&ticks);
                        ticks[1].saturating_sub(ticks[0]) as f64
                            * gpu.queue.get_timestamp_period() as f64
                            * 1e-9
                    }
                    None => wall,
                };
                best = best.min(seconds / repeats as f64);
            }
            timings.push(KernelTiming {
                kernel: d.label.clone(),
                seconds: best,
                flops: d.flops,
                workgroups: Some(d.workgroups()),
            });
        }
        Ok((timings, timestamps.is_some()))
    }

    /// The CPU time to record `steps` training steps into a command buffer (no submission):
    /// what limits a fast GPU, whose kernels take microseconds. Needs a trained epoch before it.
    pub fn recording_seconds_per_step(&self, steps: usize) -> f64 {
        let uniforms = self.steps.as_ref().expect("steps allocated");
        let dispatches = self.step_dispatches();
        let start = web_time::Instant::now();
        let mut encoder = self.gpu.device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            for step in 0..steps {
                let slot = (step % uniforms.capacity) as u64;
                let offset = Some((&uniforms.group, (slot * self.step_stride) as u32));
                for d in &dispatches {
                    d.record(&mut pass, offset);
                }
            }
        }
        let commands = encoder.finish();
        let seconds = start.elapsed().as_secs_f64() / steps as f64;
        drop(commands);
        seconds
    }
}
