//! `lenet bench`: training and inference speed of the CPU path and each adapter, side by side.

use super::outputs::{self, Kind, say};
use anyhow::{Context, Result};
use clap::Args;
use lenet_gpu::checkpoint;
use lenet_gpu::comparison::{self, Engines, Workload};
use std::path::PathBuf;

#[derive(Args)]
pub struct BenchArgs {
    /// Which engines: `all` (the CPU path and every adapter), `cpu`, `gpu` (the best adapter),
    /// or an adapter index from `lenet devices`.
    #[arg(long, default_value = "all")]
    device: Engines,
    /// Batch sizes to measure, comma-separated, e.g. 64,256,1024.
    #[arg(long, value_delimiter = ',', default_value = "64", value_parser = clap::value_parser!(u32).range(1..))]
    batch_size: Vec<u32>,
    /// Timed training steps per engine and batch size (after warm-up steps).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    steps: u32,
    /// Untimed steps first, to build pipelines and warm caches.
    #[arg(long, default_value_t = 5)]
    warmup: u32,
    /// Also time each kernel of a training step (at the first batch size), with the workgroups
    /// each GPU dispatch launches.
    #[arg(long)]
    kernels: bool,
    /// Only measure the CPU's peak FLOP/s (independent FMA chains, one thread and all threads).
    #[arg(long, conflicts_with_all = ["kernels", "json"])]
    peak: bool,
    /// Write the figures as JSON to this file (`-`: standard output, the table then going to
    /// standard error).
    #[arg(long, short = 'o', value_name = "FILE")]
    json: Option<PathBuf>,
    /// Worker threads for the CPU path (default: one per core).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    threads: Option<u32>,
}

pub fn run(args: BenchArgs) -> Result<()> {
    use indicatif::ProgressBar;
    super::args::set_threads(args.threads)?;
    outputs::check(&[(Kind::Json, args.json.as_deref())])?;
    if args.peak {
        let p = lenet_gpu::peak::measure(lenet_gpu::peak::DEFAULT_ROUNDS);
        say!(
            "peak f32 FLOP/s ({} loop): 1 thread {:.1} GFLOP/s, {} threads {:.1} GFLOP/s; the CPU path's kernels: {} ({} sets them)",
            p.kernel,
            p.one_thread_gflops,
            p.threads,
            p.all_threads_gflops,
            lenet_gpu::cpu::isa::level().name(),
            lenet_gpu::cpu::isa::VARIABLE
        );
        return Ok(());
    }
    let workload = Workload {
        engines: args.device,
        batch_sizes: args.batch_size.iter().map(|&b| b as usize).collect(),
        steps: args.steps as usize,
        warmup: args.warmup as usize,
        kernels: args.kernels,
    };
    let spinner = ProgressBar::new_spinner();
    spinner.enable_steady_tick(std::time::Duration::from_millis(200));
    let result = comparison::compare(&workload, &mut |status| spinner.set_message(status));
    spinner.finish_and_clear();
    let figures = result?;
    say!(
        "{:<3} {:<40} {:<8} {:>6} {:>13} {:>13} {:>12} {:>8} {:>9} {:>7}",
        "#",
        "device",
        "backend",
        "batch",
        "train img/s",
        "infer img/s",
        "epoch (60k)",
        "vs CPU",
        "GFLOP/s",
        "of peak"
    );
    for r in &figures.throughput {
        say!(
            "{:<3} {:<40} {:<8} {:>6} {:>13.0} {:>13.0} {:>10.1} s {:>8} {:>9.1} {:>7}",
            r.adapter.map_or("cpu".to_string(), |i| i.to_string()),
            r.device,
            r.backend,
            r.batch,
            r.throughput.train_images_per_s,
            r.throughput.infer_images_per_s,
            r.epoch_seconds,
            r.speedup_over_cpu.map_or("-".to_string(), |s| format!("{s:.2}x")),
            r.train_gflops,
            r.fraction_of_peak.map_or("-".to_string(), |f| format!("{:.0}%", f * 100.0))
        );
    }
    if let Some(p) = figures.peak {
        say!(
            "CPU peak ({} FMA loop): {:.1} GFLOP/s on 1 thread, {:.1} on {}; training costs {:.2} MFLOP an image, inference {:.2}",
            p.kernel,
            p.one_thread_gflops,
            p.all_threads_gflops,
            p.threads,
            figures.train_flops_per_image / 1e6,
            figures.infer_flops_per_image / 1e6
        );
    }
    for skipped in &figures.skipped {
        eprintln!(
            "warning: adapter {} ({}, {}) left out: {}",
            skipped.adapter, skipped.device, skipped.backend, skipped.reason
        );
    }
    for report in &figures.kernels {
        say!(
            "\nkernels on {}, batch {} (each timed alone, {}):",
            report.device,
            report.batch,
            report.timed_by
        );
        for k in &report.kernels {
            // Workgroups per dispatch: fewer than a GPU has compute units leave some idle.
            let groups = k.workgroups.map_or(String::new(), |g| format!("{g:>7} wg"));
            let rate = if k.flops > 0.0 { format!("{:>7.2} GFLOP/s", k.gflops()) } else { String::new() };
            say!("  {:<36} {:>10.1} µs {groups} {rate}", k.kernel, k.seconds * 1e6);
        }
        let total: f64 = report.kernels.iter().map(|k| k.seconds).sum();
        say!("  {:<36} {:>10.1} µs", "sum", total * 1e6);
        if let Some(us) = report.recording_microseconds_per_step {
            say!("  CPU time to record one step: {us:.1} µs");
        }
    }
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&figures).context("formatting JSON")?;
        checkpoint::write_atomically(path, format!("{text}\n").as_bytes())?;
        if !lenet_gpu::output::is_stdout(path) {
            eprintln!("figures written to {}", path.display());
        }
    }
    Ok(())
}
