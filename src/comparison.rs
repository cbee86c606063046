//! `lenet bench`'s workload: the same LeNet-5 training and inference on the CPU path and on
//! GPU adapters, side by side in one run, and optionally each kernel of a step timed alone.
//! The figures mean something only as ratios taken on one machine at one time.

use crate::bench::{self, KernelTiming, Throughput};
use crate::cpu::engine::CpuEngine;
use crate::cpu::optimizer::Optimizer;
use crate::gpu::engine::GpuEngine;
use crate::gpu::{AdapterSummary, DeviceChoice, Gpu, list_adapters};
use crate::model::{Network, Parameters};
use crate::train::Engine;
use crate::{Error, Result};

/// Which engines to compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engines {
    /// The CPU path and every adapter.
    All,
    Cpu,
    /// The best adapter.
    Gpu,
    /// One adapter, by its index in `list_adapters`.
    Adapter(usize),
}

impl std::str::FromStr for Engines {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "all" => Ok(Engines::All),
            "cpu" => Ok(Engines::Cpu),
            "gpu" => Ok(Engines::Gpu),
            _ => s
                .parse()
                .map(Engines::Adapter)
                .map_err(|_| format!("expected all, cpu, gpu or an adapter index, got {s:?}")),
        }
    }
}

/// What to measure.
#[derive(Clone, Debug)]
pub struct Workload {
    pub engines: Engines,
    pub batch_sizes: Vec<usize>,
    /// Timed training steps per engine and batch size.
    pub steps: usize,
    /// Untimed steps first.
    pub warmup: usize,
    /// Also time each kernel of a step (at the first batch size).
    pub kernels: bool,
}

/// One engine at one batch size.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Row {
    pub device: String,
    /// The adapter's index in `lenet devices` (`--device N`); None for the CPU path.
    pub adapter: Option<usize>,
    pub backend: String,
    pub batch: usize,
    #[serde(flatten)]
    pub throughput: Throughput,
    /// A 60,000-image epoch at the measured training rate.
    pub epoch_seconds: f64,
    /// Training speed over the CPU path's at the same batch size (when it was measured).
    pub speedup_over_cpu: Option<f64>,
    /// Training's useful arithmetic rate: images/s times `bench::flops_per_image`.
    pub train_gflops: f64,
    /// For the CPU path, `train_gflops` over the measured peak on all threads.
    pub fraction_of_peak: Option<f64>,
}

/// Each kernel of one engine's training step (a GPU kernel's with its workgroups per dispatch).
#[derive(Clone, Debug, serde::Serialize)]
pub struct KernelReport {
    pub device: String,
    pub timed_by: &'static str,
    pub batch: usize,
    pub kernels: Vec<KernelTiming>,
    pub recording_microseconds_per_step: Option<f64>,
}

/// An adapter `Engines::All` left out, and why: one that cannot be opened or fails must not
/// cost the figures of the others (on an NVIDIA machine the GL adapter of the same GPU would not
/// open once the Vulkan one had run: "Parent device is lost").
#[derive(Clone, Debug, serde::Serialize)]
pub struct Skipped {
    pub device: String,
    pub adapter: usize,
    pub backend: String,
    pub reason: String,
}

/// Everything measured.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Comparison {
    /// The CPU's measured peak (when the CPU path was measured).
    pub peak: Option<crate::peak::Peak>,
    /// FLOP per trained image and per inferred image (`bench::flops_per_image`).
    pub train_flops_per_image: f64,
    pub infer_flops_per_image: f64,
    pub throughput: Vec<Row>,
    pub kernels: Vec<KernelReport>,
    pub skipped: Vec<Skipped>,
}

/// Measures `workload` on synthetic digits of MNIST's shape (the arithmetic is the same whatever
/// the pixels are, and nothing needs downloading), telling `status` what it is doing.
pub fn compare(workload: &Workload, status: &mut dyn FnMut(String)) -> Result<Comparison> {
    let split = crate::data::synthetic::generate(10_000, 10_000, 1);
    let plan = Network::lenet5().plan()?;
    let params = Parameters::init(&plan, 1);
    let optimizer = Optimizer::Sgd { lr: 0.01, momentum: 0.9 };
    let adapters = list_adapters();
    let engines = engine_list(workload.engines, &adapters)?;
    let gpu_engine = |i: usize| -> Result<GpuEngine> {
        let gpu = Gpu::open(DeviceChoice::Index(i))?.ok_or_else(|| Error::gpu("adapter vanished"))?;
        GpuEngine::new(gpu, plan.clone(), &params, optimizer)
    };
    let (infer_flops, train_flops) = bench::flops_per_image(&plan);
    let mut out = Comparison {
        train_flops_per_image: train_flops,
        infer_flops_per_image: infer_flops,
        ..Default::default()
    };
    if engines.contains(&None) {
        status("measuring the CPU's peak FLOP/s".into());
        out.peak = Some(crate::peak::measure(crate::peak::DEFAULT_ROUNDS));
    }
    for &batch in &workload.batch_sizes {
        let mut cpu_rate = None;
        for &which in &engines {
            let (name, backend) = match which {
                None => (format!("CPU ({} threads)", rayon::current_num_threads()), "-".to_string()),
                Some(i) => (adapters[i].info.name.clone(), format!("{:?}", adapters[i].info.backend)),
            };
            if which.is_some_and(|i| out.skipped.iter().any(|s| s.adapter == i)) {
                continue;
            }
            status(format!("{name} ({backend}), batch {batch}: training {} steps", workload.steps));
            let measured = match which {
                None => {
                    Ok(Box::new(CpuEngine::new(plan.clone(), params.clone(), optimizer)) as Box<dyn Engine>)
                }
                Some(i) => gpu_engine(i).map(|e| Box::new(e) as Box<dyn Engine>),
            }
            .and_then(|mut engine| {
                bench::measure(engine.as_mut(), &split, batch, workload.steps, workload.warmup).map_err(|e| {
                    Error::During {
                        what: format!("benchmarking {name} at batch {batch}"),
                        cause: Box::new(e),
                    }
                })
            });
            let t = match (measured, which) {
                (Ok(t), _) => t,
                (Err(e), Some(adapter)) if workload.engines == Engines::All => {
                    let reason = e.to_string();
                    out.skipped.push(Skipped { device: name, adapter, backend, reason });
                    continue;
                }
                (Err(e), _) => return Err(e),
            };
            let speedup = match which {
                None => {
                    cpu_rate = Some(t.train_images_per_s);
                    Some(1.0)
                }
                Some(_) => cpu_rate.map(|c| t.train_images_per_s / c),
            };
            out.throughput.push(Row {
                device: name.clone(),
                adapter: which,
                backend: backend.clone(),
                batch,
                throughput: t,
                epoch_seconds: 60_000.0 / t.train_images_per_s,
                speedup_over_cpu: speedup,
                train_gflops: t.train_images_per_s * train_flops / 1e9,
                fraction_of_peak: match (which, out.peak) {
                    (None, Some(p)) => Some(t.train_images_per_s * train_flops / 1e9 / p.all_threads_gflops),
                    _ => None,
                },
            });
            if workload.kernels && batch == workload.batch_sizes[0] {
                status(format!("{name} ({backend}): timing each kernel"));
                out.kernels.push(match which {
                    None => KernelReport {
                        device: name,
                        timed_by: "wall time",
                        batch,
                        kernels: bench::cpu_kernel_timings(&plan, batch, 20),
                        recording_microseconds_per_step: None,
                    },
                    Some(i) => {
                        let mut engine = gpu_engine(i)?;
                        let (timings, timestamps) = engine.profile_step(&split.train, batch, 10)?;
                        let recording = engine.recording_seconds_per_step(1000);
                        KernelReport {
                            device: format!("{name} ({backend})"),
                            timed_by: if timestamps { "GPU timestamps" } else { "wall time" },
                            batch,
                            kernels: timings,
                            recording_microseconds_per_step: Some(recording * 1e6),
                        }
                    }
                });
            }
        }
    }
    Ok(out)
}

/// The engines to measure, in order: None for the CPU path, Some(i) for adapter i.
fn engine_list(engines: Engines, adapters: &[AdapterSummary]) -> Result<Vec<Option<usize>>> {
    Ok(match engines {
        Engines::All => std::iter::once(None).chain((0..adapters.len()).map(Some)).collect(),
        Engines::Cpu => vec![None],
        Engines::Gpu => {
            let best = adapters.iter().max_by_key(|a| crate::gpu::context::preference(&a.info));
            vec![Some(best.map(|a| a.index).ok_or(Error::Gpu(crate::error::GpuError::NoAdapter))?)]
        }
        Engines::Adapter(i) if i < adapters.len() => vec![Some(i)],
        // Opening it says what there is instead.
        Engines::Adapter(i) => {
            return Err(Gpu::open(DeviceChoice::Index(i)).err().unwrap_or(Error::Gpu(
                crate::error::GpuError::NoSuchAdapter { index: i, found: adapters.len() },
            )));
        }
    })
}
