//! What the page does, in plain Rust over the library (no JavaScript here, so it also runs and is
//! tested natively): a `Lab` trains a network step by step on synthetic digits or MNIST, on the
//! browser's WebGPU or the CPU path, continuing from its weights and optimizer state call after
//! call; it evaluates, predicts a drawn digit, shows conv1's kernels, saves and loads the CLI's
//! checkpoints, and runs the kernel parity suite.
//!
//! A page must never stop drawing for long. The GPU path yields at every submission's readback
//! (the engine sizes submissions to about 0.1 s of GPU work). The CPU path computes inside its
//! futures, so the lab slices its work into pieces of about `SLICE_SECONDS` and awaits `pause`
//! (which in a browser lets it draw) between them.

mod cursor;
mod model;
mod types;

pub use types::{Backend, DataKind, Kernels, Reading, TrainRequest, TrainTotals};

use cursor::Cursor;
use lenet_gpu::data::{Dataset, Split, mnist, synthetic};
use lenet_gpu::error::Divergence;
use lenet_gpu::gpu::context::is_software_name;
use lenet_gpu::gpu::kernels::Blocking;
use lenet_gpu::gpu::{DeviceChoice, Gpu, parity};
use lenet_gpu::model::optimizer::{Optimizer, OptimizerState};
use lenet_gpu::model::{Network, Parameters, arch};
use lenet_gpu::pacing;
use lenet_gpu::session::{DataIdentity, Session, TrainSpec, rate_to_try};
use lenet_gpu::train::{Interrupt, TrainConfig};
use lenet_gpu::{Error, Result};
use std::future::Future;
use std::pin::Pin;
use web_time::Instant;

/// CPU work between two pauses: well under a frame's 50 ms budget.
const SLICE_SECONDS: f64 = 0.02;
/// Synthetic digits the page trains and tests on (made by the CLI's generator).
const SYNTHETIC_TRAIN: usize = 10_000;
const SYNTHETIC_TEST: usize = 2_000;
/// SGD with momentum, as `lenet train` and the PyTorch and TF.js anchors.
const MOMENTUM: f32 = 0.9;

/// Awaited between slices of CPU work: the browser draws meanwhile.
pub type Pause<'a> = &'a dyn Fn() -> Pin<Box<dyn Future<Output = ()>>>;

pub struct Lab {
    session: Session,
    backend: Backend,
    /// The adapter (or "CPU"), and whether it is a software one.
    adapter: String,
    software: bool,
    /// Why the CPU path runs when WebGPU was wanted.
    fallback: Option<String>,
    network: Network,
    seed: u64,
    optimizer: Optimizer,
    batch_size: usize,
    synthetic: Option<Split>,
    mnist: Option<Split>,
    cursor: Option<Cursor>,
    cpu_slice_steps: usize,
    /// A device of the parity suite's own, opened on first use.
    parity_gpu: Option<Gpu>,
}

impl Lab {
    /// A lab training LeNet-5 from a seeded initialization: on WebGPU when an adapter opens
    /// (`prefer` "auto" or "webgpu"; a software adapter too, since the page exists to run the GPU
    /// kernels), else, under "auto", on the CPU path; "cpu" asks for the CPU path.
    /// `browser_adapter` is the adapter's name as the browser gives it ("" if unknown): wgpu
    /// leaves it empty there, and a software adapter gets the kernels that suit it.
    pub async fn open(prefer: &str, seed: u64, browser_adapter: &str) -> Result<Lab> {
        if is_software_name(browser_adapter) {
            Blocking::prefer(Some(Blocking::Blocked));
        }
        let (backend, fallback, gpu) = match prefer {
            "cpu" => (Backend::Cpu, None, None),
            "auto" | "webgpu" => match Gpu::open_async(DeviceChoice::Gpu).await {
                Ok(Some(gpu)) => (Backend::WebGpu, None, Some(gpu)),
                Ok(None) => unreachable!("DeviceChoice::Gpu never asks for the CPU path"),
                Err(e) if prefer == "auto" => (Backend::Cpu, Some(e.to_string()), None),
                Err(e) => return Err(e),
            },
            other => {
                return Err(Error::InvalidArgument(format!(
                    "unknown backend {other:?}: use \"auto\", \"webgpu\" or \"cpu\""
                )));
            }
        };
        let network = Network::lenet5();
        let params = Parameters::init(&arch::plan_for_mnist(&network)?, seed);
        let optimizer = Optimizer::Sgd { lr: 0.01, momentum: MOMENTUM };
        let session = open_session(backend, &network, params, optimizer, seed, 64).await?;
        let (adapter, software) = match &gpu {
            Some(gpu) if gpu.info.name.is_empty() => {
                (browser_adapter.to_string(), gpu.is_software() || is_software_name(browser_adapter))
            }
            Some(gpu) => (gpu.info.name.clone(), gpu.is_software()),
            None => ("CPU (wasm, one thread)".to_string(), false),
        };
        Ok(Lab {
            session,
            backend,
            adapter,
            software,
            fallback,
            network,
            seed,
            optimizer,
            batch_size: 64,
            // Made now, while the page loads, rather than in the first training call's frame.
            synthetic: Some(synthetic::generate(SYNTHETIC_TRAIN, SYNTHETIC_TEST, seed)),
            mnist: None,
            cursor: None,
            cpu_slice_steps: 1,
            parity_gpu: gpu,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn adapter(&self) -> &str {
        &self.adapter
    }

    pub fn is_software(&self) -> bool {
        self.software
    }

    pub fn fallback(&self) -> Option<&str> {
        self.fallback.as_deref()
    }

    /// Stops the training call under way after the steps already queued (see `Interrupt`).
    pub fn interrupt(&self) -> Interrupt {
        self.session.interrupt()
    }

    /// The network's name, e.g. "LeNet-5".
    pub fn network_title(&self) -> String {
        arch::title(&self.network)
    }

    /// MNIST from its four files' bytes (gzipped or raw, in `mnist::FILES`' order).
    pub fn set_mnist(&mut self, files: [Vec<u8>; 4]) -> Result<String> {
        let split = mnist::from_bytes(files)?;
        let described = mnist::sizes(&split, false);
        if self.cursor.as_ref().is_some_and(|c| c.dataset == DataKind::Mnist) {
            self.cursor = None;
        }
        self.mnist = Some(split);
        Ok(described)
    }

    pub fn has_mnist(&self) -> bool {
        self.mnist.is_some()
    }

    /// How many training examples `kind` has (generating or requiring it).
    pub fn train_examples(&mut self, kind: DataKind) -> Result<usize> {
        Ok(self.split(kind)?.train.len())
    }

    fn split(&mut self, kind: DataKind) -> Result<&Split> {
        match kind {
            DataKind::Synthetic => {
                let seed = self.seed;
                Ok(self
                    .synthetic
                    .get_or_insert_with(|| synthetic::generate(SYNTHETIC_TRAIN, SYNTHETIC_TEST, seed)))
            }
            DataKind::Mnist => self.mnist.as_ref().ok_or_else(|| {
                Error::InvalidArgument(
                    "MNIST is not loaded: serve its four .gz files in mnist/ beside the page, or pick them \
                     with the file chooser (or train on \"synthetic\")"
                        .into(),
                )
            }),
        }
    }

    /// Trains `request.steps` steps, continuing from the current weights, optimizer state and
    /// place in the shuffled epochs; `progress` sees the totals as they grow.
    pub async fn train(
        &mut self,
        request: &TrainRequest,
        progress: &mut dyn FnMut(&TrainTotals),
        pause: Pause<'_>,
    ) -> Result<TrainTotals> {
        let TrainRequest { steps, batch_size, learning_rate, dataset } = *request;
        if steps == 0 {
            return Err(Error::InvalidArgument("steps must be at least 1".into()));
        }
        let optimizer = Optimizer::Sgd { lr: learning_rate, momentum: MOMENTUM };
        let config = TrainConfig { epochs: 1, batch_size, optimizer, seed: self.seed, ..Default::default() };
        config.validate()?;
        if learning_rate != self.optimizer.lr() {
            self.change_optimizer(optimizer).await?;
        }
        self.batch_size = batch_size;
        let examples = self.split(dataset)?.train.len();
        if self.cursor.as_ref().is_none_or(|c| c.dataset != dataset) {
            self.cursor = Some(Cursor::new(dataset, examples, self.seed));
        }
        let seed = self.seed;
        let split = match dataset {
            DataKind::Synthetic => self.synthetic.as_ref(),
            DataKind::Mnist => self.mnist.as_ref(),
        }
        .expect("the data set is loaded");
        let cursor = self.cursor.as_mut().expect("a cursor");
        let started = Instant::now();
        let mut totals = TrainTotals::default();
        while totals.steps < steps {
            let slice = match self.backend {
                Backend::WebGpu => steps - totals.steps,
                Backend::Cpu => (steps - totals.steps).min(self.cpu_slice_steps),
            };
            let before = cursor.clone();
            let order = cursor.take(slice * batch_size, seed);
            let slice_start = Instant::now();
            let base = totals;
            let result = self
                .session
                .engine()
                .train_epoch_async(&split.train, &order, batch_size, &mut |p| {
                    let now = TrainTotals {
                        steps: base.steps + p.steps_done,
                        images: base.images + p.images_done,
                        loss_sum: base.loss_sum + p.loss_sum,
                        correct: base.correct + p.correct,
                        seconds: base.seconds + p.seconds,
                    };
                    progress(&now);
                })
                .await;
            let done = match result {
                Ok(done) => done,
                Err(Error::Interrupted { steps_done }) => {
                    // Only the steps trained count: the place in the epoch goes back to them.
                    *cursor = before;
                    cursor.take(steps_done * batch_size, seed);
                    return Err(Error::Interrupted { steps_done: totals.steps + steps_done });
                }
                Err(e) => return Err(e),
            };
            if let Some(step) = done.diverged_at_step {
                let divergence = Divergence::Loss {
                    loss: done.loss_sum,
                    epoch: cursor.epoch,
                    step: Some(totals.steps + step),
                    learning_rate,
                    rate_to_try: rate_to_try(&optimizer),
                    last_saved: None,
                    restored: false,
                };
                return Err(Error::Diverged(divergence));
            }
            totals.steps += done.steps_done;
            totals.images += done.images_done;
            totals.loss_sum += done.loss_sum;
            totals.correct += done.correct as u64;
            match self.backend {
                // One call: its own clock starts after building the batch's pipelines.
                Backend::WebGpu => totals.seconds += done.seconds,
                Backend::Cpu => {
                    let took = slice_start.elapsed().as_secs_f64();
                    self.cpu_slice_steps = pacing::items_for(SLICE_SECONDS, slice, took, slice);
                    totals.seconds = started.elapsed().as_secs_f64();
                }
            }
            progress(&totals);
            if totals.steps < steps {
                pause().await;
            }
        }
        Ok(totals)
    }

    /// A new engine for `optimizer` (its rate is built into the GPU's kernels), holding the
    /// current parameters and optimizer state.
    async fn change_optimizer(&mut self, optimizer: Optimizer) -> Result<()> {
        let params = self.session.parameters_async().await?;
        let state: OptimizerState = self.session.engine().optimizer_state_async().await?;
        let interrupt = self.session.interrupt();
        let mut session =
            open_session(self.backend, &self.network, params, optimizer, self.seed, self.batch_size).await?;
        session.engine().set_optimizer_state(&state)?;
        session.engine().set_interrupt(interrupt);
        self.session = session;
        self.optimizer = optimizer;
        Ok(())
    }

    /// Accuracy (a fraction) on `kind`'s held-out set.
    pub async fn evaluate(&mut self, kind: DataKind, pause: Pause<'_>) -> Result<f64> {
        self.split(kind)?;
        let test = match kind {
            DataKind::Synthetic => &self.synthetic.as_ref().expect("generated").test,
            DataKind::Mnist => &self.mnist.as_ref().expect("loaded").test,
        };
        if self.backend == Backend::WebGpu {
            return Ok(self.session.evaluate_async(test).await?.accuracy());
        }
        // The CPU path in slices of images, with a pause between.
        let (mut correct, mut at, mut slice) = (0usize, 0usize, 200usize);
        let pixels = test.pixels_per_image();
        while at < test.len() {
            let end = (at + slice).min(test.len());
            let part = Dataset {
                images: test.images[at * pixels..end * pixels].to_vec(),
                labels: test.labels[at..end].to_vec(),
                ..*test
            };
            let started = Instant::now();
            let predicted = self.session.engine().predict_async(&part).await?;
            correct += predicted.iter().zip(&part.labels).filter(|(p, l)| p == l).count();
            slice = pacing::items_for(SLICE_SECONDS, end - at, started.elapsed().as_secs_f64(), end - at);
            at = end;
            if at < test.len() {
                pause().await;
            }
        }
        Ok(correct as f64 / test.len().max(1) as f64)
    }

    /// Every kernel on this lab's WebGPU device against the CPU path (`gpu::parity`).
    pub async fn parity(&mut self, seed: u64) -> Result<Vec<parity::KernelParity>> {
        if self.parity_gpu.is_none() {
            self.parity_gpu = Gpu::open_async(DeviceChoice::Gpu).await?;
        }
        let gpu = self.parity_gpu.as_ref().expect("a device for the parity suite");
        parity::run_async(gpu, seed).await
    }
}

/// A session training `network` from `params` with `optimizer` on `backend`.
async fn open_session(
    backend: Backend,
    network: &Network,
    params: Parameters,
    optimizer: Optimizer,
    seed: u64,
    batch_size: usize,
) -> Result<Session> {
    let device = match backend {
        Backend::WebGpu => DeviceChoice::Gpu,
        Backend::Cpu => DeviceChoice::Cpu,
    };
    let spec = TrainSpec {
        device,
        network: network.clone(),
        config: TrainConfig { epochs: 1, batch_size, optimizer, seed, ..Default::default() },
        data: DataIdentity::of(None, SYNTHETIC_TRAIN),
        save_to: None,
        resume_from: None,
        overwrite: false,
    };
    Session::train_from_async(spec, params, Box::new(|_| {})).await
}
