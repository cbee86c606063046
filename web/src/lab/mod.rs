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

mod model;
mod types;

pub use types::{
    Backend, DataKind, FeatureMaps, Filtered, Kernels, PlanState, Reading, Scored, ShownMistake,
    TrainRequest, TrainTotals,
};

use lenet_gpu::data::{Dataset, Split, mnist, synthetic};
use lenet_gpu::model::{Network, Parameters, arch};
use lenet_gpu::session::{
    DataIdentity, DeviceChoice, Gpu, Interrupt, Observer, Progress, Session, TrainConfig, TrainSpec,
    adapter_name_hint, items_for, parity,
};
use lenet_gpu::{Error, Result};
use std::future::Future;
use std::pin::Pin;
use web_time::Instant;

/// CPU work between two pauses: well under a frame's 50 ms budget.
const SLICE_SECONDS: f64 = 0.02;
/// Synthetic digits the page trains and tests on (made by the CLI's generator).
const SYNTHETIC_TRAIN: usize = 10_000;
const SYNTHETIC_TEST: usize = 2_000;

/// Awaited between slices of CPU work: the browser draws meanwhile.
pub type Pause<'a> = &'a dyn Fn() -> Pin<Box<dyn Future<Output = ()>>>;

pub struct Lab {
    session: Session,
    backend: Backend,
    /// The adapter (or "CPU"), and whether the WebGPU adapter found is a software one (the CPU
    /// path runs in its place under "auto").
    adapter: String,
    software: bool,
    /// Why the CPU path runs when WebGPU was wanted.
    fallback: Option<String>,
    seed: u64,
    synthetic: Option<Split>,
    mnist: Option<Split>,
    /// The data set the session trains on.
    dataset: DataKind,
    cpu_slice_steps: usize,
    /// The epoch's totals the session reported last, to tell each call's share.
    reported: Progress,
    /// The Train click under way: its steps left, its first epoch and how many it reaches.
    plan: Option<Plan>,
    /// A device of the parity suite's own, opened on first use.
    parity_gpu: Option<Gpu>,
}

impl Lab {
    /// A lab training LeNet-5 from a seeded initialization. "auto": on WebGPU when a hardware
    /// adapter opens; on the CPU path when none does, or when the adapter is a software one (it
    /// runs the kernels on the CPU, slower than the CPU path itself), saying why. "webgpu": on
    /// whatever adapter opens, software ones too (the WGSL kernels at any speed). "cpu": the CPU
    /// path. `browser_adapter` is the adapter's name as the browser gives it ("" if unknown):
    /// wgpu leaves it empty there, and a software adapter gets the kernels that suit it.
    pub async fn open(prefer: &str, seed: u64, browser_adapter: &str) -> Result<Lab> {
        let software_named = adapter_name_hint(browser_adapter);
        let (backend, fallback, gpu) = match prefer {
            "cpu" => (Backend::Cpu, None, None),
            "auto" | "webgpu" => match Gpu::open_async(DeviceChoice::Gpu).await {
                Ok(Some(gpu)) if prefer == "auto" && (gpu.is_software() || software_named) => {
                    let name =
                        if gpu.info.name.is_empty() { browser_adapter } else { gpu.info.name.as_str() };
                    let why = format!(
                        "the WebGPU adapter here ({}) is a software one, which runs the GPU kernels on the CPU, slower than the CPU path",
                        if name.is_empty() { "unnamed" } else { name }
                    );
                    (Backend::Cpu, Some(why), Some(gpu))
                }
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
        // The library's defaults (SGD with momentum, as `lenet train` and the anchors).
        let config = TrainConfig { seed, ..Default::default() };
        let session = open_session(backend, &network, params, config).await?;
        let (adapter, software) = match &gpu {
            // The CPU path; `software` still says whether the WebGPU adapter was a software one.
            Some(gpu) if backend == Backend::Cpu => {
                ("CPU (wasm, one thread)".to_string(), gpu.is_software() || software_named)
            }
            None => ("CPU (wasm, one thread)".to_string(), false),
            Some(gpu) if gpu.info.name.is_empty() => {
                (browser_adapter.to_string(), gpu.is_software() || software_named)
            }
            Some(gpu) => (gpu.info.name.clone(), gpu.is_software()),
        };
        Ok(Lab {
            session,
            backend,
            adapter,
            software,
            fallback,
            seed,
            // Made now, while the page loads, rather than in the first training call's frame.
            synthetic: Some(synthetic::generate(SYNTHETIC_TRAIN, SYNTHETIC_TEST, seed)),
            mnist: None,
            dataset: DataKind::Synthetic,
            cpu_slice_steps: 1,
            reported: Progress::default(),
            plan: None,
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
        arch::title(self.session.network())
    }

    /// MNIST from its four files' bytes (gzipped or raw, in `mnist::FILES`' order).
    pub fn set_mnist(&mut self, files: [Vec<u8>; 4]) -> Result<String> {
        let split = mnist::from_bytes(files)?;
        let described = mnist::sizes(&split, false);
        if self.dataset == DataKind::Mnist {
            self.session.leave_epoch(); // its place was in the MNIST replaced
        }
        self.mnist = Some(split);
        Ok(described)
    }

    pub fn has_mnist(&self) -> bool {
        self.mnist.is_some()
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

    /// Plans a Train click: `epochs` epochs' worth of steps of `dataset` (a share of one too; at
    /// least a step) at `batch_size`, from where the run stands. The `train` calls after it train
    /// at most the steps left, each stopping at the end of one of the run's epochs (where the page
    /// evaluates), and say where the click stands in its own epochs.
    pub fn plan_epochs(&mut self, epochs: f64, batch_size: usize, dataset: DataKind) -> Result<PlanState> {
        for (name, words, value) in
            [("epochs", "epochs", epochs), ("batchSize", "batch size", batch_size as f64)]
        {
            check_setting(name, value).map_err(|why| Error::InvalidArgument(format!("{words} {why}")))?;
        }
        let examples = self.split(dataset)?.train.len();
        let per_epoch = examples.div_ceil(batch_size);
        let steps = ((epochs * per_epoch as f64).round() as usize).max(1);
        let count = steps.div_ceil(per_epoch);
        self.plan = Some(Plan { steps, steps_left: steps, per_epoch, count });
        Ok(PlanState { epoch: 1, epochs: count, epoch_ended: false, steps_left: steps })
    }

    /// Ends the Train click under way, if any (a click stopped between two calls): later calls
    /// train the steps they ask for.
    pub fn end_plan(&mut self) {
        self.plan = None;
    }

    /// Trains `request.steps` steps, continuing from the current weights, optimizer state and
    /// place in the shuffled epochs (`Session::train_steps_async`); `progress` sees the totals
    /// as they grow. A new rate or batch size applies from the first step.
    pub async fn train(
        &mut self,
        request: &TrainRequest,
        progress: &mut dyn FnMut(&TrainTotals),
        pause: Pause<'_>,
    ) -> Result<TrainTotals> {
        let trained = self.train_planned(request, progress, pause).await;
        if trained.is_err() {
            self.plan = None; // a stopped or failed click is over
        }
        trained
    }

    async fn train_planned(
        &mut self,
        request: &TrainRequest,
        progress: &mut dyn FnMut(&TrainTotals),
        pause: Pause<'_>,
    ) -> Result<TrainTotals> {
        let TrainRequest { steps, batch_size, learning_rate, dataset } = *request;
        if steps == 0 {
            return Err(Error::InvalidArgument("steps must be at least 1".into()));
        }
        let examples = self.split(dataset)?.train.len();
        let current = self.session.config().expect("a training session").clone();
        let optimizer = current.optimizer.at_rate(learning_rate);
        let config = TrainConfig { batch_size, optimizer, ..current };
        let collection = (dataset == DataKind::Mnist).then_some(mnist::Collection::Mnist);
        self.session.set_settings(config, DataIdentity::of(collection, examples))?;
        self.dataset = dataset;
        let split = match dataset {
            DataKind::Synthetic => self.synthetic.as_ref(),
            DataKind::Mnist => self.mnist.as_ref(),
        }
        .expect("the data set is loaded");
        // Within a Train click: no further than its steps left and the epoch's end.
        let steps = match &self.plan {
            Some(plan) => {
                let to_end = (examples - self.session.epoch_position()).div_ceil(batch_size);
                steps.min(plan.steps_left).min(to_end)
            }
            None => steps,
        };
        let clock = (self.backend == Backend::Cpu).then(Instant::now);
        let mut totals = TrainTotals::default();
        let start = (self.session.epochs_done(), self.session.epoch_position());
        while totals.steps < steps {
            let slice = match self.backend {
                Backend::WebGpu => steps - totals.steps,
                Backend::Cpu => (steps - totals.steps).min(self.cpu_slice_steps),
            };
            let slice_start = Instant::now();
            let mut share = CallShare { reported: &mut self.reported, totals: &mut totals, clock, progress };
            let trained = self.session.train_steps_async(split, slice, &mut share).await;
            if let Err(Error::Interrupted { .. }) = trained {
                // The steps that ran, counted by where the run now stands in its epochs (a GPU
                // submission under way when Stop came completes, reported or not).
                let now = (self.session.epochs_done(), self.session.epoch_position());
                let trained = self.session.config().expect("a training session").trained_examples(examples);
                return Err(Error::Interrupted {
                    steps_done: steps_between(start, now, trained, batch_size),
                });
            }
            trained?;
            if self.backend == Backend::Cpu {
                let took = slice_start.elapsed().as_secs_f64();
                self.cpu_slice_steps = items_for(SLICE_SECONDS, slice, took, slice);
            }
            progress(&totals);
            if totals.steps < steps {
                pause().await;
            }
        }
        if let Some(plan) = &mut self.plan {
            plan.steps_left -= totals.steps.min(plan.steps_left);
            // The click's own epochs (its steps by the epoch's), counting its last step's.
            let done = plan.steps - plan.steps_left;
            totals.plan = Some(PlanState {
                epoch: (1 + done.saturating_sub(1) / plan.per_epoch).min(plan.count),
                epochs: plan.count,
                epoch_ended: self.session.epoch_position() == 0,
                steps_left: plan.steps_left,
            });
            if plan.steps_left == 0 {
                self.plan = None;
            }
        }
        Ok(totals)
    }

    /// Accuracy (a fraction) on `kind`'s held-out set.
    pub async fn evaluate(&mut self, kind: DataKind, pause: Pause<'_>) -> Result<f64> {
        Ok(self.score(kind, pause).await?.accuracy)
    }

    /// `kind`'s held-out set scored: accuracy, confusion matrix and the `MISTAKES_SHOWN` most
    /// confident mistakes. The CPU path runs it in slices, with a pause between.
    pub async fn score(&mut self, kind: DataKind, pause: Pause<'_>) -> Result<Scored> {
        self.split(kind)?;
        let test = match kind {
            DataKind::Synthetic => &self.synthetic.as_ref().expect("generated").test,
            DataKind::Mnist => &self.mnist.as_ref().expect("loaded").test,
        };
        let classes = self.session.plan().classes();
        let (mut confusion, mut logits) =
            (vec![0u64; classes * classes], Vec::with_capacity(test.len() * classes));
        let (mut at, mut slice) = (0usize, 200usize);
        let pixels = test.pixels_per_image();
        while at < test.len() {
            // WebGPU scores the whole set in one call; the CPU path about 20 ms at a time.
            let end = match self.backend {
                Backend::WebGpu => test.len(),
                Backend::Cpu => (at + slice).min(test.len()),
            };
            let part = Dataset {
                images: test.images[at * pixels..end * pixels].to_vec(),
                labels: test.labels[at..end].to_vec(),
                ..*test
            };
            let started = Instant::now();
            let (evaluation, _, part_logits) = self.session.evaluate_with_logits_async(&part).await?;
            confusion.iter_mut().zip(&evaluation.confusion).for_each(|(total, n)| *total += n);
            logits.extend(part_logits);
            slice = items_for(SLICE_SECONDS, end - at, started.elapsed().as_secs_f64(), end - at);
            at = end;
            if at < test.len() {
                pause().await;
            }
        }
        let correct: u64 = (0..classes).map(|c| confusion[c * classes + c]).sum();
        let mistakes = lenet_gpu::evaluation::mistakes(&logits, &test.labels, classes)
            .into_iter()
            .take(MISTAKES_SHOWN)
            .map(|m| ShownMistake {
                label: m.label,
                predicted: m.predicted,
                confidence: m.confidence,
                image: test.image(m.index).to_vec(),
            })
            .collect();
        Ok(Scored { accuracy: correct as f64 / test.len().max(1) as f64, classes, confusion, mistakes })
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

/// Why `value` cannot be the page's setting `name` ("learningRate", "batchSize", "epochs"), in the
/// library's words (`session::check`) where it has them: what the page's fields and a Train
/// click are checked by.
pub fn check_setting(name: &str, value: f64) -> std::result::Result<(), String> {
    match name {
        "learningRate" => lenet_gpu::session::check::learning_rate(value as f32).map(|_| ()),
        "batchSize" if value.fract() == 0.0 && value >= 1.0 => Ok(()),
        "batchSize" => Err(format!("must be a whole number of at least 1, got {value}")),
        "epochs" if value.is_finite() && value > 0.0 => Ok(()),
        "epochs" => Err(format!("must be a number above 0 (a share of an epoch too), got {value}")),
        other => Err(format!("is no setting of the page ({other})")),
    }
}

/// Steps of `batch_size` from `start` to `now` (each epochs done and examples into the next)
/// in epochs of `examples` trained examples; an epoch's last step may be smaller.
fn steps_between(start: (usize, usize), now: (usize, usize), examples: usize, batch_size: usize) -> usize {
    let per_epoch = examples.div_ceil(batch_size);
    let at = |(epochs, position): (usize, usize)| epochs * per_epoch + position.div_ceil(batch_size);
    at(now).saturating_sub(at(start))
}

/// How many of an evaluation's mistakes the page shows.
const MISTAKES_SHOWN: usize = 8;

/// A Train click's steps (`Lab::plan_epochs`).
struct Plan {
    steps: usize,
    steps_left: usize,
    /// Steps in an epoch at the click's batch size.
    per_epoch: usize,
    /// The click's epochs: its steps by the epoch's, rounded up.
    count: usize,
}

/// A training call's share of the epochs' totals the session reports (an epoch's running totals,
/// which may have begun in an earlier call): what the page shows.
struct CallShare<'a> {
    reported: &'a mut Progress,
    totals: &'a mut TrainTotals,
    /// The CPU path's clock, pauses included; the GPU path counts its training time alone.
    clock: Option<Instant>,
    progress: &'a mut dyn FnMut(&TrainTotals),
}

impl Observer for CallShare<'_> {
    fn epoch_started(&mut self, _epoch: usize, _images: usize) {
        *self.reported = Progress::default();
    }

    fn progress(&mut self, p: Progress) {
        let last = std::mem::replace(self.reported, p);
        let t = &mut *self.totals;
        t.steps += p.steps_done - last.steps_done;
        t.images += p.images_done - last.images_done;
        t.loss_sum += p.loss_sum - last.loss_sum;
        t.correct += p.correct - last.correct;
        t.seconds = match self.clock {
            Some(start) => start.elapsed().as_secs_f64(),
            None => t.seconds + (p.seconds - last.seconds),
        };
        (self.progress)(t);
    }
}

/// A session training `network` from `params` with `config` on `backend`.
async fn open_session(
    backend: Backend,
    network: &Network,
    params: Parameters,
    config: TrainConfig,
) -> Result<Session> {
    let device = match backend {
        Backend::WebGpu => DeviceChoice::Gpu,
        Backend::Cpu => DeviceChoice::Cpu,
    };
    let spec = TrainSpec {
        device,
        network: network.clone(),
        config,
        data: DataIdentity::of(None, SYNTHETIC_TRAIN),
        save_to: None,
        resume_from: None,
        overwrite: false,
    };
    Session::train_from_async(spec, params, Box::new(|_| {})).await
}
