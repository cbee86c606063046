//! `lenet`: train, evaluate and inspect LeNet-5 on MNIST.

mod figures;
mod progress;
mod show;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use lenet_gpu::checkpoint;
use lenet_gpu::cpu::engine::CpuEngine;
use lenet_gpu::cpu::optimizer::Optimizer;
use lenet_gpu::data::download;
use lenet_gpu::data::mnist::{self, Collection, DataOptions, DatasetChoice};
use lenet_gpu::data::{MEAN, STD};
use lenet_gpu::fallback::Fallback;
use lenet_gpu::gpu::engine::GpuEngine;
use lenet_gpu::gpu::{DeviceChoice, Gpu, list_adapters};
use lenet_gpu::model::{Network, Parameters, Plan, Shape, arch};
use lenet_gpu::train::{self, Engine, TrainConfig};
use progress::ConsoleObserver;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "lenet",
    version,
    about = "Train and inspect LeNet-5 on MNIST, on any GPU through wgpu or on the CPU"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train LeNet-5 (or another --arch) and report loss and test accuracy after each epoch.
    Train(TrainArgs),
    /// Evaluate a saved model on the test set: accuracy, per-class accuracy, confusion matrix.
    Eval(EvalArgs),
    /// Show the network's layers with output shapes and parameter counts.
    Summary(SummaryArgs),
    /// Download MNIST (or Fashion-MNIST) into the data directory, checked against the published MD5 sums.
    Download(DownloadArgs),
    /// List the GPU adapters wgpu finds, with their key limits (WGPU_BACKEND narrows the search).
    Devices,
    /// Benchmark training and inference on the CPU path and each GPU adapter, side by side.
    Bench(BenchArgs),
    /// Classify digits in image files (PNG, JPEG, BMP, GIF) with a saved model: top 3 classes.
    Predict(PredictArgs),
    /// Apply one convolution kernel to a grayscale version of an image and write the result as a PNG.
    Convolve(ConvolveArgs),
    /// Pictures of a trained network: its kernels, the feature maps of an image, training curves.
    Show(show::ShowArgs),
}

#[derive(Args)]
struct SummaryArgs {
    /// The network: `lenet5`, `lenet5-1998` (tanh, average pooling), a layer list such as
    /// conv8k3p1,relu,maxpool2,dense10 (syntax in the README), or a file holding one.
    #[arg(long, value_name = "SPEC", default_value = "lenet5", value_parser = parse_arch)]
    arch: Network,
}

/// `--arch`: a name, a layer list or a file (see `lenet_gpu::model::arch`).
fn parse_arch(spec: &str) -> std::result::Result<Network, String> {
    arch::load_network(spec).map_err(|e| e.to_string())
}

#[derive(Args)]
struct BenchArgs {
    /// Which engines: `all` (the CPU path and every adapter), `cpu`, `gpu` (the best adapter),
    /// or an adapter index from `lenet devices`.
    #[arg(long, default_value = "all")]
    device: String,
    /// Batch sizes to measure, comma-separated, e.g. 64,256,1024.
    #[arg(long, value_delimiter = ',', default_value = "64", value_parser = clap::value_parser!(u32).range(1..))]
    batch_size: Vec<u32>,
    /// Timed training steps per engine and batch size (after warm-up steps).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    steps: u32,
    /// Untimed steps first, to build pipelines and warm caches.
    #[arg(long, default_value_t = 5)]
    warmup: u32,
    /// Also time each kernel of a training step (at the first batch size).
    #[arg(long)]
    kernels: bool,
    /// Write the figures as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Worker threads for the CPU path (default: one per core).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    threads: Option<u32>,
}

#[derive(Args, Clone)]
struct DataArgs {
    /// Directory holding the data set's four IDX files (.gz or raw). Default: for MNIST
    /// $LENET_DATA_DIR, else ./data/mnist; for Fashion-MNIST $LENET_FASHION_MNIST_DIR, else
    /// ./data/fashion-mnist.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

#[derive(Args)]
struct DownloadArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Which data set: `mnist` or `fashion-mnist`.
    #[arg(long, value_name = "NAME", default_value = "mnist", value_parser = ["mnist", "fashion-mnist"])]
    dataset: String,
}

#[derive(Args, Clone)]
struct DatasetArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Which data: `mnist` (looked for in the data directory, downloaded if absent),
    /// `fashion-mnist` (likewise, in its own directory), `synthetic` (digits generated from the
    /// seed, MNIST-shaped), or `auto` (MNIST, else synthetic with a notice; for `eval`, the data
    /// set the model was trained on).
    #[arg(long, value_enum, default_value_t = DatasetKind::Auto)]
    dataset: DatasetKind,
    /// Never try to download the data set.
    #[arg(long)]
    no_download: bool,
    /// Use only the first N training images.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    limit_train: Option<u32>,
    /// Use only the first N test images.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    limit_test: Option<u32>,
    /// Where to run: `auto` (a hardware GPU if there is one, else the CPU path), `cpu`, `gpu`
    /// (the best adapter of any kind, software ones such as lavapipe included), or an adapter
    /// index from `lenet devices`.
    #[arg(long, default_value = "auto", value_name = "DEVICE")]
    device: DeviceChoice,
    /// Worker threads for the CPU path (default: one per core).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    threads: Option<u32>,
}

#[derive(ValueEnum, Clone, Copy, PartialEq, Eq)]
enum DatasetKind {
    Auto,
    Mnist,
    FashionMnist,
    Synthetic,
}

#[derive(ValueEnum, Clone, Copy, PartialEq, Eq, Debug)]
enum OptimizerKind {
    /// SGD with momentum.
    Sgd,
    /// Adam (β1 0.9, β2 0.999, ε 1e-8).
    Adam,
}

#[derive(Args)]
struct TrainArgs {
    #[command(flatten)]
    dataset: DatasetArgs,
    /// Passes over the training set.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    epochs: u32,
    /// Images per training step (the last step of an epoch may be smaller).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    batch_size: u32,
    /// Learning rate [default: 0.01 for sgd, 0.001 for adam].
    #[arg(long, value_parser = positive_float, allow_negative_numbers = true)]
    lr: Option<f32>,
    /// Momentum for SGD, in [0, 1).
    #[arg(long, default_value_t = 0.9, value_parser = momentum, allow_negative_numbers = true)]
    momentum: f32,
    /// The optimizer.
    #[arg(long, value_enum, default_value_t = OptimizerKind::Sgd)]
    optimizer: OptimizerKind,
    /// Seed for initialization, shuffling and synthetic data: the same seed gives the same numbers.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Save the model here (safetensors, PyTorch's state_dict names) after every epoch, atomically.
    #[arg(long, value_name = "FILE")]
    save: Option<PathBuf>,
    /// Continue the run saved in this checkpoint (by --save, which also writes the optimizer
    /// state to FILE.optim.safetensors) from its next epoch up to --epochs; needs the same
    /// --seed, --batch-size, --arch and optimizer settings (and data options) as that run.
    #[arg(long, value_name = "FILE")]
    resume: Option<PathBuf>,
    /// The network: `lenet5`, `lenet5-1998` (tanh, average pooling), a layer list such as
    /// conv8k3p1,relu,maxpool2,dense10 (syntax in the README), or a file holding one.
    #[arg(long, value_name = "SPEC", default_value = "lenet5", value_parser = parse_arch)]
    arch: Network,
    /// Write training figures to this CSV file as training goes (kind,epoch,step,loss,accuracy,
    /// images_per_s,learning_rate): a `train` row every --metrics-every steps and a `test` row
    /// after each epoch (see the README). With --resume, its rows up to the resumed epoch are kept.
    #[arg(long, value_name = "FILE")]
    metrics: Option<PathBuf>,
    /// Steps per `train` row of --metrics (and of --plot's curves).
    #[arg(long, value_name = "N", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    metrics_every: u32,
    /// Draw the loss and accuracy curves in this PNG, redrawn after every epoch.
    #[arg(long, value_name = "FILE")]
    plot: Option<PathBuf>,
}

#[derive(Args)]
struct EvalArgs {
    #[command(flatten)]
    dataset: DatasetArgs,
    /// The model to evaluate (a safetensors checkpoint written by `lenet train --save`, or by
    /// PyTorch's `safetensors.torch.save_file` for the same network).
    #[arg(long, value_name = "FILE")]
    model: PathBuf,
    /// Seed for synthetic data.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The network [default: the one recorded in the checkpoint, else lenet5]; an error if the
    /// checkpoint records another.
    #[arg(long, value_name = "SPEC", value_parser = parse_arch)]
    arch: Option<Network>,
    /// Also draw the confusion matrix as a heat map in this PNG.
    #[arg(long, value_name = "FILE")]
    confusion: Option<PathBuf>,
    /// Also evaluate on copies of the test set shifted by every (dx, dy) up to MAX pixels in each
    /// direction (zero fill, before normalization): a table of accuracies and a summary per
    /// distance.
    #[arg(long, value_name = "MAX", num_args = 0..=1, default_missing_value = "4",
          value_parser = clap::value_parser!(u32).range(0..28))]
    shift: Option<u32>,
    /// Draw the --shift results (a heat map and accuracy by distance) in this PNG; implies
    /// --shift 4 when --shift is not given.
    #[arg(long, value_name = "FILE")]
    shift_plot: Option<PathBuf>,
}

#[derive(Args)]
struct PredictArgs {
    /// The images: one digit each, any size, color or gray, dark ink on a light background or
    /// light on dark. Each is made MNIST-style first: cropped to its ink, scaled to fit 20x20,
    /// centered by its center of mass in 28x28.
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<PathBuf>,
    /// The model (a safetensors checkpoint written by `lenet train --save`).
    #[arg(long, value_name = "FILE")]
    model: PathBuf,
    /// Where to run: `auto` (a hardware GPU if there is one, else the CPU path), `cpu`, `gpu`
    /// (the best adapter of any kind), or an adapter index from `lenet devices`.
    #[arg(long, default_value = "auto", value_name = "DEVICE")]
    device: DeviceChoice,
}

#[derive(Args)]
struct ConvolveArgs {
    /// The image (PNG, JPEG, BMP or GIF), read as grayscale with intensities in [0, 1].
    #[arg(value_name = "IMAGE")]
    image: PathBuf,
    /// `vertical-edge`, `horizontal-edge`, `outline`, or a literal list of rows such as
    /// '[[0,1],[2,3]]' (any rectangular size).
    #[arg(long, value_name = "KERNEL")]
    kernel: lenet_gpu::convolve::Kernel,
    /// How far the kernel moves between outputs.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    stride: u32,
    /// Zero pixels added on every side.
    #[arg(long, default_value_t = 0)]
    padding: u32,
    /// The PNG to write. Signed results map 0 to mid-gray; non-negative ones min..max to 0..255.
    #[arg(long, value_name = "FILE", default_value = "convolved.png")]
    out: PathBuf,
    /// Where to run: `auto` (a hardware GPU if there is one, else the CPU path), `cpu`, `gpu`
    /// (the best adapter of any kind), or an adapter index from `lenet devices`.
    #[arg(long, default_value = "auto", value_name = "DEVICE")]
    device: DeviceChoice,
}

fn positive_float(s: &str) -> std::result::Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        Ok(v) => Err(format!("must be a positive finite number, got {v}")),
        Err(e) => Err(e.to_string()),
    }
}

fn momentum(s: &str) -> std::result::Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if (0.0..1.0).contains(&v) => Ok(v),
        Ok(v) => Err(format!("must be in [0, 1), got {v}")),
        Err(e) => Err(e.to_string()),
    }
}

/// Mesa's drivers print "error: XDG_RUNTIME_DIR is invalid" when that variable is unset (as on
/// headless machines and in CI), which reads like our error. Point it at a private directory made
/// for this run; returns it, to be removed at exit.
fn give_mesa_a_runtime_dir() -> Option<PathBuf> {
    #[cfg(unix)]
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        use std::os::unix::fs::DirBuilderExt;
        let dir = std::env::temp_dir().join(format!("lenet-runtime-{}", std::process::id()));
        if std::fs::DirBuilder::new().mode(0o700).create(&dir).is_ok() {
            // SAFETY: called from main before any other thread exists.
            unsafe { std::env::set_var("XDG_RUNTIME_DIR", &dir) };
            return Some(dir);
        }
    }
    None
}

fn main() -> ExitCode {
    let cli = Cli::parse(); // exits on --help or bad arguments, before anything is made
    let runtime_dir = give_mesa_a_runtime_dir();
    let code = run(cli);
    if let Some(dir) = runtime_dir {
        let _ = std::fs::remove_dir_all(dir);
    }
    code
}

fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Train(args) => train(args),
        Command::Eval(args) => eval(args),
        Command::Summary(args) => summary(args),
        Command::Download(args) => download_data(args),
        Command::Devices => devices(),
        Command::Bench(args) => bench(args),
        Command::Predict(args) => predict(args),
        Command::Convolve(args) => convolve(args),
        Command::Show(args) => show::show(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The engine for `device`: the GPU path on the chosen adapter, or the CPU path (saying so when
/// `auto` found no hardware GPU). Under `auto`, a GPU that fails, when the engine is made or
/// later, is given up for the CPU path with a notice (see `lenet_gpu::fallback`).
fn make_engine(
    device: DeviceChoice,
    plan: Plan,
    params: Parameters,
    optimizer: Optimizer,
) -> Result<Box<dyn Engine>> {
    let gpu = match Gpu::open(device) {
        Err(e) if device == DeviceChoice::Auto => {
            eprintln!("{e}: running on the CPU path");
            None
        }
        other => other?,
    };
    match gpu {
        Some(gpu) if device == DeviceChoice::Auto => {
            match GpuEngine::new(gpu, plan.clone(), &params, optimizer) {
                Ok(engine) => {
                    let notice = Box::new(|why: &str| eprintln!("{why}"));
                    Ok(Box::new(Fallback::new(Box::new(engine), params, optimizer, notice)))
                }
                Err(e) => {
                    eprintln!("{e}: running on the CPU path");
                    Ok(Box::new(CpuEngine::new(plan, params, optimizer)))
                }
            }
        }
        Some(gpu) => Ok(Box::new(GpuEngine::new(gpu, plan, &params, optimizer)?)),
        None => {
            if device == DeviceChoice::Auto {
                eprintln!(
                    "no hardware GPU found: running on the CPU path (--device gpu accepts a software adapter such as lavapipe)"
                );
            }
            Ok(Box::new(CpuEngine::new(plan, params, optimizer)))
        }
    }
}

fn devices() -> Result<()> {
    let adapters = list_adapters();
    if adapters.is_empty() {
        println!("wgpu found no adapters: `--device auto` will use the CPU path");
        return Ok(());
    }
    for a in &adapters {
        println!(
            "{}: {} ({:?}, {:?}){}",
            a.index,
            a.info.name,
            a.info.backend,
            a.info.device_type,
            if a.info.driver.is_empty() {
                String::new()
            } else {
                format!(", driver {} {}", a.info.driver, a.info.driver_info)
            }
        );
        println!(
            "   max storage binding {} MiB, max buffer {} MiB, {} invocations per workgroup, {} storage buffers per stage, timestamp queries: {}",
            a.limits.max_storage_buffer_binding_size >> 20,
            a.limits.max_buffer_size >> 20,
            a.limits.max_compute_invocations_per_workgroup,
            a.limits.max_storage_buffers_per_shader_stage,
            if a.timestamp_queries { "yes" } else { "no" }
        );
    }
    Ok(())
}

fn set_threads(threads: Option<u32>) -> Result<()> {
    if let Some(n) = threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n as usize)
            .build_global()
            .context("starting worker threads")?;
    }
    Ok(())
}

/// Finds (or downloads, or generates) the data, applies the limits, and says what it is using.
/// Returns the data and the collection it came from (None for synthetic digits). Images of another
/// size than `input` (the network's) are refused here, naming the file.
fn load_data(
    args: &DatasetArgs,
    seed: u64,
    input: Shape,
) -> Result<(lenet_gpu::data::Split, Option<Collection>)> {
    let choice = match args.dataset {
        DatasetKind::Auto => DatasetChoice::Auto,
        DatasetKind::Mnist => DatasetChoice::Mnist,
        DatasetKind::FashionMnist => DatasetChoice::FashionMnist,
        DatasetKind::Synthetic => DatasetChoice::Synthetic,
    };
    let opts = DataOptions {
        data_dir: choice.data_dir(args.data.data_dir.as_deref()),
        choice,
        seed,
        download: !args.no_download,
        progress: true,
    };
    let loaded = mnist::obtain(&opts)?;
    loaded.check_input(input)?;
    if let Some(notice) = &loaded.notice {
        eprintln!("{notice}");
    }
    let mut split = loaded.split;
    if let Some(n) = args.limit_train {
        split.train = split.train.take(n as usize);
    }
    if let Some(n) = args.limit_test {
        split.test = split.test.take(n as usize);
    }
    if args.limit_train.is_some() || args.limit_test.is_some() {
        eprintln!(
            "data: {} (using {} train, {} test)",
            loaded.description,
            split.train.len(),
            split.test.len()
        );
    } else {
        eprintln!("data: {}", loaded.description);
    }
    Ok((split, loaded.collection))
}

fn train(args: TrainArgs) -> Result<()> {
    set_threads(args.dataset.threads)?;
    let lr = args.lr.unwrap_or(match args.optimizer {
        OptimizerKind::Sgd => 0.01,
        OptimizerKind::Adam => 0.001,
    });
    let optimizer = match args.optimizer {
        OptimizerKind::Sgd => Optimizer::Sgd { lr, momentum: args.momentum },
        OptimizerKind::Adam => Optimizer::adam(lr),
    };
    let config = TrainConfig {
        epochs: args.epochs as usize,
        batch_size: args.batch_size as usize,
        optimizer,
        seed: args.seed,
    };
    config.validate()?;
    let network = args.arch;
    let plan = arch::plan_for_mnist(&network)?;
    let (split, collection) = load_data(&args.dataset, args.seed, plan.input())?;
    // Where the CPU path may run, before any parameter or activation is allocated (no step is
    // bigger than the data). A GPU holds its activations in its own memory.
    if matches!(args.dataset.device, DeviceChoice::Cpu | DeviceChoice::Auto) {
        let largest_step = config.batch_size.min(split.train.len().max(1));
        lenet_gpu::memory::check_training(&plan, largest_step, &config.optimizer)?;
    }

    let (params, resumed) = match &args.resume {
        Some(from) => {
            let data = (collection, split.train.len());
            let (params, state, epoch) = load_resume(from, &network, &plan, &config, data)?;
            (params, Some((state, epoch)))
        }
        None => (Parameters::init(&plan, args.seed), None),
    };
    if let Some(save) = &args.save {
        check_save_path(save)?;
    }
    let mut engine = make_engine(args.dataset.device, plan, params, optimizer)?;
    let mut first_epoch = 1;
    if let Some((state, epoch)) = &resumed {
        engine.set_optimizer_state(state)?;
        first_epoch = epoch + 1;
        eprintln!("resuming from {} after epoch {epoch}", args.resume.as_ref().unwrap().display());
    }
    let optimizer_words = match optimizer {
        Optimizer::Sgd { momentum, .. } => format!("SGD lr {lr} momentum {momentum}"),
        Optimizer::Adam { .. } => format!("Adam lr {lr}"),
    };
    eprintln!(
        "training {} ({} parameters) on {}: {} epoch{}, batch {}, {optimizer_words}, seed {}",
        network_name(&network),
        engine.plan().parameter_count,
        engine.device_name(),
        config.epochs,
        if config.epochs == 1 { "" } else { "s" },
        config.batch_size,
        config.seed
    );
    let mut figures = figures::TrainFigures::new(
        args.metrics.as_deref(),
        args.metrics_every as usize,
        args.plot.as_deref(),
        config.batch_size,
        lr,
        resumed.as_ref().map(|(_, epoch)| *epoch),
    )?;
    let mut console = ConsoleObserver::new(config.epochs);
    let mut last_saved = None;
    for epoch in first_epoch..=config.epochs {
        let mut observers: Vec<&mut dyn train::Observer> = vec![&mut console];
        if let Some(f) = &mut figures {
            observers.push(&mut f.log);
        }
        let mut observer = lenet_gpu::metrics::Observers(observers);
        let report = train::train_epoch(engine.as_mut(), &split, &config, epoch, &mut observer);
        if let Some(f) = &mut figures {
            f.epoch_done()?; // the rows so far are kept and drawn even if the epoch failed
        }
        if let Err(e) = report {
            if let (lenet_gpu::Error::Diverged(_), Some(path), Some(last)) = (&e, &args.save, last_saved) {
                bail!("{e}; {} still holds the model after epoch {last}", path.display());
            }
            return Err(e.into());
        }
        if let Some(path) = &args.save {
            let metadata = checkpoint_metadata(&network, epoch, &config, (collection, split.train.len()));
            checkpoint::save_training(path, &engine.parameters()?, &engine.optimizer_state()?, metadata)
                .with_context(|| format!("saving the model after epoch {epoch}"))?;
            last_saved = Some(epoch);
        }
    }
    if let Some(path) = &args.save {
        eprintln!("model saved to {}", path.display());
    }
    for line in figures.iter().flat_map(|f| f.describe(args.metrics.as_deref())) {
        eprintln!("{line}");
    }
    Ok(())
}

/// Refuses, before any training, a `--save` path that could not be written at the end of an
/// epoch: one in a missing directory, or a directory itself.
fn check_save_path(save: &std::path::Path) -> Result<()> {
    if save.is_dir() {
        bail!(
            "cannot save to {}: it is a directory; give a file name, e.g. {}",
            save.display(),
            save.join("lenet.safetensors").display()
        );
    }
    if let Some(dir) = save.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.is_dir()
    {
        bail!("cannot save to {}: the directory {} does not exist", save.display(), dir.display());
    }
    Ok(())
}

/// "dataset" is the collection's key ("mnist", "fashion-mnist"), or "synthetic".
fn dataset_key(collection: Option<Collection>) -> &'static str {
    collection.map_or("synthetic", Collection::key)
}

/// What a checkpoint records of its run: enough to rebuild the network and to resume it.
fn checkpoint_metadata(
    network: &Network,
    epoch: usize,
    config: &TrainConfig,
    (collection, train_examples): (Option<Collection>, usize),
) -> HashMap<String, String> {
    HashMap::from([
        ("dataset".to_string(), dataset_key(collection).to_string()),
        ("train_examples".to_string(), train_examples.to_string()),
        ("format".to_string(), "pt".to_string()),
        ("architecture".to_string(), network.layers_string()),
        ("input".to_string(), network.input.to_string()),
        ("normalization".to_string(), format!("mean={MEAN},std={STD}")),
        ("epoch".to_string(), epoch.to_string()),
        ("seed".to_string(), config.seed.to_string()),
        ("batch_size".to_string(), config.batch_size.to_string()),
        ("optimizer".to_string(), checkpoint::describe_optimizer(&config.optimizer)),
    ])
}

/// For `train --resume`: the parameters, optimizer state and last epoch saved in `from`, after
/// checking that the run being resumed had the same network, seed, batch size and optimizer, and
/// that it has epochs left to train.
fn load_resume(
    from: &std::path::Path,
    network: &Network,
    plan: &Plan,
    config: &TrainConfig,
    (collection, train_examples): (Option<Collection>, usize),
) -> Result<(Parameters, lenet_gpu::cpu::optimizer::OptimizerState, usize)> {
    let context = || format!("cannot resume from {}", from.display());
    // The settings first (the model file records the same ones as its optimizer state), so a
    // run of another network is named as such rather than as tensors of the wrong size.
    let metadata = checkpoint::read_metadata(from).with_context(context)?;
    let recorded = |key: &str| {
        metadata.get(key).cloned().with_context(|| {
            format!("{}: it records no \"{key}\" (not saved by `lenet train --save`?)", context())
        })
    };
    let checks = [
        ("architecture", network.layers_string(), "--arch"),
        ("seed", config.seed.to_string(), "--seed"),
        ("batch_size", config.batch_size.to_string(), "--batch-size"),
        ("optimizer", checkpoint::describe_optimizer(&config.optimizer), "--optimizer/--lr/--momentum"),
    ];
    for (key, wanted, flag) in checks {
        let saved = recorded(key)?;
        if saved != wanted {
            bail!(
                "{}: it was trained with {key} {saved}, but this run asks for {wanted} (resuming needs the same {flag} as the saved run)",
                context()
            );
        }
    }
    // The same training data too, else each epoch's shuffle is another (checkpoints from before
    // these were recorded are taken on trust).
    let data_checks =
        [("dataset", dataset_key(collection).to_string()), ("train_examples", train_examples.to_string())];
    for (key, wanted) in data_checks {
        if let Some(saved) = metadata.get(key)
            && *saved != wanted
        {
            bail!(
                "{}: it was trained with {key} {saved}, but this run has {wanted} (resuming needs the same --dataset and --limit-train as the saved run)",
                context()
            );
        }
    }
    let saved = checkpoint::load_training(from, plan).with_context(context)?;
    if saved.recovered {
        eprintln!(
            "{}: its last save was interrupted; resuming from the newer state in {}",
            from.display(),
            checkpoint::optimizer_path(from).display()
        );
    }
    let epoch: usize = saved
        .metadata
        .get("epoch")
        .and_then(|e| e.parse().ok())
        .with_context(|| format!("{}: unreadable epoch", context()))?;
    if epoch >= config.epochs {
        bail!(
            "{}: it has already trained {epoch} epochs; pass --epochs with a larger total to train more",
            context()
        );
    }
    Ok((saved.params, saved.optimizer, epoch))
}

/// "LeNet-5", "LeNet-5 (1998)", or the architecture string of any other network.
fn network_name(network: &Network) -> String {
    arch::title(network)
}

/// The network of a checkpoint: the one its metadata records, else `--arch`, else LeNet-5; an
/// `--arch` that disagrees with the recorded one is an error.
fn checkpoint_network(model: &std::path::Path, arch: Option<Network>) -> Result<Network> {
    let recorded = checkpoint::recorded_network(model)?;
    match (recorded, arch) {
        (Some(recorded), Some(arch)) if recorded != arch => bail!(
            "--arch {arch} does not match the architecture recorded in {}: {recorded} (leave out --arch to use the checkpoint's)",
            model.display()
        ),
        (Some(network), _) | (None, Some(network)) => Ok(network),
        (None, None) => Ok(Network::lenet5()),
    }
}

fn eval(args: EvalArgs) -> Result<()> {
    set_threads(args.dataset.threads)?;
    let network = checkpoint_network(&args.model, args.arch)?;
    let plan = arch::plan_for_mnist(&network)?;
    let (params, metadata) = checkpoint::load(&args.model, &plan)?;
    // A model trained on Fashion-MNIST is evaluated on it, unless --dataset names another.
    let trained_on = metadata.get("dataset").and_then(|key| Collection::from_key(key));
    let mut data_args = args.dataset.clone();
    if data_args.dataset == DatasetKind::Auto && trained_on == Some(Collection::FashionMnist) {
        data_args.dataset = DatasetKind::FashionMnist;
    }
    let (split, collection) = load_data(&data_args, args.seed, plan.input())?;
    if let (Some(trained), Some(data)) = (trained_on, collection)
        && trained != data
    {
        eprintln!("note: this model was trained on {}, not {}", trained.name(), data.name());
    }
    if split.test.is_empty() {
        bail!("the test set is empty");
    }
    // The optimizer is never used when only evaluating.
    let mut engine =
        make_engine(args.dataset.device, plan, params, Optimizer::Sgd { lr: 0.01, momentum: 0.0 })?;
    eprintln!("evaluating {} on {}", network_name(&network), engine.device_name());
    let evaluation = train::evaluate(engine.as_mut(), &split.test)?;
    println!(
        "test accuracy: {:.2}% ({} of {})",
        evaluation.accuracy() * 100.0,
        evaluation.correct(),
        evaluation.total()
    );
    // Rows labelled by digit, or by number and name ("  7 Sneaker") for Fashion-MNIST.
    let fashion = collection == Some(Collection::FashionMnist);
    let label = |c: usize| match fashion {
        true => format!("  {:<13}", format!("{c} {}", Collection::FashionMnist.class_name(c))),
        false => format!("{c:>6}"),
    };
    let rows = if fashion { "true class" } else { "true digit" };
    println!("\nconfusion matrix (rows: {rows}, columns: predicted):");
    print!("{}", " ".repeat(label(0).len()));
    for c in 0..evaluation.classes {
        print!("{c:>6}");
    }
    println!("  accuracy");
    for actual in 0..evaluation.classes {
        print!("{}", label(actual));
        for predicted in 0..evaluation.classes {
            print!("{:>6}", evaluation.confusion[actual * evaluation.classes + predicted]);
        }
        println!("  {:>7.2}%", evaluation.class_accuracy(actual) * 100.0);
    }
    if let Some(path) = &args.confusion {
        figures::confusion(&evaluation, path)?;
    }
    let shift = args.shift.or(args.shift_plot.as_ref().map(|_| 4));
    if let Some(max) = shift {
        figures::shift(engine.as_mut(), &split.test, max as usize, args.shift_plot.as_deref())?;
    }
    Ok(())
}

fn summary(args: SummaryArgs) -> Result<()> {
    let network = args.arch;
    let plan = network.plan()?;
    if let Err(e) = arch::plan_for_mnist(&network) {
        eprintln!("note: `lenet train` would refuse this network: {e}");
    }
    if arch::name_of(&network).is_some() {
        println!("{}: {}", arch::title(&network), network.layers_string());
    } else {
        println!("network: {network}");
    }
    println!("{:<8} {:<36} {:>14} {:>10}", "layer", "kind", "output shape", "params");
    println!("{}", "-".repeat(71));
    println!("{:<8} {:<36} {:>14} {:>10}", "input", "", plan.input().to_string(), 0);
    for l in &plan.layers {
        println!(
            "{:<8} {:<36} {:>14} {:>10}",
            l.name,
            l.layer.describe(),
            l.output.to_string(),
            l.parameter_count()
        );
    }
    println!("{}", "-".repeat(71));
    println!("total parameters: {}", group_thousands(plan.parameter_count));
    Ok(())
}

fn group_thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn download_data(args: DownloadArgs) -> Result<()> {
    let collection = Collection::from_key(&args.dataset).context("unknown data set")?;
    let dir = collection.data_dir(args.data.data_dir.as_deref());
    download::download(&dir, &collection.mirrors(), collection.files(), true)?;
    mnist::load_collection(collection, &dir)
        .with_context(|| format!("checking the downloaded files in {}", dir.display()))?;
    println!("{} is ready in {}", collection.name(), dir.display());
    Ok(())
}

/// Prints each image's top 3 classes with their softmax probabilities. An image that cannot be
/// read gets an error line naming it (the others are still classified) and the exit status is 1.
fn predict(args: PredictArgs) -> Result<()> {
    use lenet_gpu::data::preprocess;
    // The checkpoint's own network: LeNet-5 and its 1998 original share every tensor shape.
    let plan = arch::plan_for_mnist(&checkpoint_network(&args.model, None)?)?;
    let (params, metadata) = checkpoint::load(&args.model, &plan)?;
    // Classes by name for a model trained on Fashion-MNIST, else digits.
    let classes_of =
        metadata.get("dataset").and_then(|key| Collection::from_key(key)).unwrap_or(Collection::Mnist);
    let mut read = Vec::new();
    let mut failures = Vec::new();
    for path in &args.images {
        match preprocess::load(path) {
            Ok(image) => read.push((path, image)),
            Err(e) => failures.push(e),
        }
    }
    if !read.is_empty() {
        let images: Vec<_> = read.iter().map(|(_, image)| *image).collect();
        // The optimizer is never used when only predicting.
        let mut engine = make_engine(args.device, plan, params, Optimizer::Sgd { lr: 0.01, momentum: 0.0 })?;
        let classes = engine.plan().classes();
        let logits = engine.logits(&preprocess::dataset(&images))?;
        for ((path, _), row) in read.iter().zip(logits.chunks_exact(classes)) {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let exp: Vec<f64> = row.iter().map(|&z| f64::from(z - max).exp()).collect();
            let sum: f64 = exp.iter().sum();
            let mut ranked: Vec<usize> = (0..classes).collect();
            ranked.sort_by(|&a, &b| exp[b].total_cmp(&exp[a]));
            let top: Vec<String> = ranked
                .iter()
                .take(3)
                .map(|&c| format!("{} ({:.1}%)", classes_of.class_name(c), 100.0 * exp[c] / sum))
                .collect();
            println!("{}: {}", path.display(), top.join(", "));
        }
    }
    // One "error:" line per unreadable image: all but the last here, the last from main.
    match failures.pop() {
        None => Ok(()),
        Some(last) => {
            for e in &failures {
                eprintln!("error: {e}");
            }
            Err(last.into())
        }
    }
}

fn convolve(args: ConvolveArgs) -> Result<()> {
    use lenet_gpu::convolve;
    let image = convolve::read_plane(&args.image)?;
    let gpu = Gpu::open(args.device)?;
    let on = match &gpu {
        Some(gpu) => format!("GPU ({})", gpu.name()),
        None => "CPU".to_string(),
    };
    let (stride, padding) = (args.stride as usize, args.padding as usize);
    let out = convolve::convolve(gpu.as_ref(), &image, &args.kernel, stride, padding)?;
    convolve::write_png(&args.out, &out)?;
    let k = &args.kernel.0;
    println!(
        "{}: {}x{} -> {}x{} ({}x{} kernel, stride {stride}, padding {padding}, on the {on}), wrote {}",
        args.image.display(),
        image.width,
        image.height,
        out.width,
        out.height,
        k.width,
        k.height,
        args.out.display()
    );
    Ok(())
}

/// One row of the benchmark table.
#[derive(serde::Serialize)]
struct BenchRow {
    device: String,
    backend: String,
    batch: usize,
    #[serde(flatten)]
    throughput: lenet_gpu::bench::Throughput,
    /// A 60,000-image epoch at the measured training rate.
    epoch_seconds: f64,
    speedup_over_cpu: Option<f64>,
}

#[derive(serde::Serialize)]
struct BenchKernels {
    device: String,
    timed_by: &'static str,
    batch: usize,
    kernels: Vec<lenet_gpu::bench::KernelTiming>,
    recording_microseconds_per_step: Option<f64>,
}

fn bench(args: BenchArgs) -> Result<()> {
    use indicatif::ProgressBar;
    use lenet_gpu::bench;
    set_threads(args.threads)?;
    // Synthetic digits of MNIST's shape: the workload needs no download, and the arithmetic is
    // the same whatever the pixels are.
    let split = lenet_gpu::data::synthetic::generate(10_000, 10_000, 1);
    let plan = Network::lenet5().plan()?;
    let params = Parameters::init(&plan, 1);
    let optimizer = Optimizer::Sgd { lr: 0.01, momentum: 0.9 };
    let adapters = list_adapters();
    let mut engines: Vec<Option<usize>> = Vec::new(); // None: the CPU path; Some(i): adapter i
    match args.device.as_str() {
        "all" => engines.extend(std::iter::once(None).chain((0..adapters.len()).map(Some))),
        "cpu" => engines.push(None),
        "gpu" => engines.push(Some(
            adapters
                .iter()
                .max_by_key(|a| lenet_gpu::gpu::context::preference(&a.info))
                .map(|a| a.index)
                .context("no GPU adapter found (see `lenet devices`)")?,
        )),
        other => {
            engines.push(Some(other.parse().context("--device takes all, cpu, gpu or an adapter index")?))
        }
    }
    let spinner = ProgressBar::new_spinner();
    spinner.enable_steady_tick(std::time::Duration::from_millis(200));
    let mut rows = Vec::new();
    let mut kernel_reports = Vec::new();
    for &batch in &args.batch_size {
        let batch = batch as usize;
        let mut cpu_rate = None;
        for &which in &engines {
            let (name, backend) = match which {
                None => (format!("CPU ({} threads)", rayon::current_num_threads()), "-".to_string()),
                Some(i) => {
                    let a = adapters.get(i).with_context(|| format!("there is no adapter {i}"))?;
                    (a.info.name.clone(), format!("{:?}", a.info.backend))
                }
            };
            spinner.set_message(format!("{name} ({backend}), batch {batch}: training {} steps", args.steps));
            let mut engine: Box<dyn Engine> = match which {
                None => Box::new(CpuEngine::new(plan.clone(), params.clone(), optimizer)),
                Some(i) => {
                    let gpu = Gpu::open(DeviceChoice::Index(i))?.context("adapter vanished")?;
                    Box::new(GpuEngine::new(gpu, plan.clone(), &params, optimizer)?)
                }
            };
            let t = bench::measure(engine.as_mut(), &split, batch, args.steps as usize, args.warmup as usize)
                .with_context(|| format!("benchmarking {name} at batch {batch}"))?;
            let speedup = match which {
                None => {
                    cpu_rate = Some(t.train_images_per_s);
                    Some(1.0)
                }
                Some(_) => cpu_rate.map(|c| t.train_images_per_s / c),
            };
            rows.push(BenchRow {
                device: name.clone(),
                backend: backend.clone(),
                batch,
                throughput: t,
                epoch_seconds: 60_000.0 / t.train_images_per_s,
                speedup_over_cpu: speedup,
            });
            if args.kernels && batch == args.batch_size[0] as usize {
                spinner.set_message(format!("{name} ({backend}): timing each kernel"));
                let report = match which {
                    None => BenchKernels {
                        device: name,
                        timed_by: "wall time",
                        batch,
                        kernels: bench::cpu_kernel_timings(&plan, batch, 20),
                        recording_microseconds_per_step: None,
                    },
                    Some(i) => {
                        let gpu = Gpu::open(DeviceChoice::Index(i))?.context("adapter vanished")?;
                        let mut engine = GpuEngine::new(gpu, plan.clone(), &params, optimizer)?;
                        let (timings, timestamps) = engine.profile_step(&split.train, batch, 10)?;
                        let recording = engine.recording_seconds_per_step(1000);
                        BenchKernels {
                            device: format!("{name} ({backend})"),
                            timed_by: if timestamps { "GPU timestamps" } else { "wall time" },
                            batch,
                            kernels: timings,
                            recording_microseconds_per_step: Some(recording * 1e6),
                        }
                    }
                };
                kernel_reports.push(report);
            }
        }
    }
    spinner.finish_and_clear();
    println!(
        "{:<40} {:<8} {:>6} {:>13} {:>13} {:>12} {:>8}",
        "device", "backend", "batch", "train img/s", "infer img/s", "epoch (60k)", "vs CPU"
    );
    for r in &rows {
        println!(
            "{:<40} {:<8} {:>6} {:>13.0} {:>13.0} {:>10.1} s {:>8}",
            r.device,
            r.backend,
            r.batch,
            r.throughput.train_images_per_s,
            r.throughput.infer_images_per_s,
            r.epoch_seconds,
            r.speedup_over_cpu.map_or("-".to_string(), |s| format!("{s:.2}x"))
        );
    }
    for report in &kernel_reports {
        println!(
            "\nkernels on {}, batch {} (each timed alone, {}):",
            report.device, report.batch, report.timed_by
        );
        for k in &report.kernels {
            let rate = if k.flops > 0.0 { format!("{:>7.2} GFLOP/s", k.gflops()) } else { String::new() };
            println!("  {:<32} {:>10.1} µs {rate}", k.kernel, k.seconds * 1e6);
        }
        let total: f64 = report.kernels.iter().map(|k| k.seconds).sum();
        println!("  {:<32} {:>10.1} µs", "sum", total * 1e6);
        if let Some(us) = report.recording_microseconds_per_step {
            println!("  CPU time to record one step: {us:.1} µs");
        }
    }
    if let Some(path) = &args.json {
        let json = serde_json::json!({ "throughput": rows, "kernels": kernel_reports });
        let text = serde_json::to_string_pretty(&json).context("formatting JSON")?;
        checkpoint::write_atomically(path, text.as_bytes())?;
        eprintln!("figures written to {}", path.display());
    }
    Ok(())
}
