//! The command line's shape (clap): the commands, and the arguments several of them share.

use clap::{Args, Parser, Subcommand};
use lenet_gpu::data::mnist::{self, DatasetChoice, Loaded};
use lenet_gpu::model::{Network, Shape, arch};
use lenet_gpu::session::DeviceChoice;
use lenet_gpu::session::{self, DataRequest};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "lenet",
    version,
    about = "Train and inspect LeNet-5 on MNIST, on any GPU through wgpu or on the CPU"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The command line parsed, or clap's error printed, with a hint when a model file was given
    /// without `--model` (`lenet eval m.safetensors`), and the exit status to end with.
    pub fn parse_or_explain() -> Result<Cli, std::process::ExitCode> {
        Cli::try_parse().map_err(|e| {
            let words: Vec<String> = std::env::args().skip(1).collect();
            let hint = model_hint(e.kind(), &words);
            let _ = e.print();
            if let Some(hint) = hint {
                eprintln!("hint: {hint}");
            }
            std::process::ExitCode::from(e.exit_code() as u8)
        })
    }
}

/// For a command line clap refused, where a word ending in `.safetensors` stands without
/// `--model` in front of it: the line with `--model` added.
fn model_hint(kind: clap::error::ErrorKind, words: &[String]) -> Option<String> {
    use clap::error::ErrorKind::{MissingRequiredArgument, UnknownArgument};
    if !matches!(kind, UnknownArgument | MissingRequiredArgument)
        || words.iter().any(|w| w.starts_with("--model"))
    {
        return None;
    }
    let at = words.iter().enumerate().position(|(i, w)| {
        w.ends_with(".safetensors") && !w.starts_with('-') && (i == 0 || !words[i - 1].starts_with("--"))
    })?;
    let mut fixed = words.to_vec();
    fixed.insert(at, "--model".into());
    Some(format!("a model is given with --model: lenet {}", fixed.join(" ")))
}

#[derive(Subcommand)]
pub enum Command {
    /// Train LeNet-5 (or another --arch) and report loss and test accuracy after each epoch.
    Train(super::train::TrainArgs),
    /// Evaluate a saved model on the test set: accuracy, per-class accuracy, confusion matrix.
    Eval(super::eval::EvalArgs),
    /// Show the network's layers with output shapes and parameter counts.
    Summary(super::summary::SummaryArgs),
    /// Download MNIST (or Fashion-MNIST) into the data directory, checked against the published MD5 sums.
    Download(super::download::DownloadArgs),
    /// List the GPU adapters wgpu finds, with their key limits (WGPU_BACKEND narrows the search).
    Devices,
    /// Benchmark training and inference on the CPU path and each GPU adapter, side by side.
    Bench(super::bench::BenchArgs),
    /// Classify digits in image files (PNG, JPEG, BMP, GIF) or directories of them with a saved model: the top classes.
    Predict(super::predict::PredictArgs),
    /// Apply one convolution kernel to a grayscale version of an image and write the result as a PNG.
    Convolve(super::convolve::ConvolveArgs),
    /// Pictures of a trained network: its kernels, the feature maps of an image, training curves.
    Show(super::show::ShowArgs),
}

/// `--arch`: a name, a layer list or a file (see `lenet_gpu::model::arch`).
pub fn parse_arch(spec: &str) -> Result<Network, String> {
    arch::load_network(spec).map_err(|e| e.to_string())
}

/// A value parser for a number checked by one of the library's ranges (`train::config::check`):
/// `--lr`, `--momentum` and `--weight-decay` say what `TrainConfig::validate` would.
pub fn checked_float(check: fn(f32) -> Result<f32, String>) -> impl Fn(&str) -> Result<f32, String> + Clone {
    move |s: &str| s.parse::<f32>().map_err(|e| e.to_string()).and_then(check)
}

/// A percentage in [1, 100], written with or without `%`.
pub fn percentage(s: &str) -> Result<f64, String> {
    match s.strip_suffix('%').unwrap_or(s).parse::<f64>() {
        Ok(v) if (1.0..=100.0).contains(&v) => Ok(v),
        Ok(v) if v > 0.0 && v < 1.0 => {
            Err(format!("is a percentage: {v} means {v}%; for {}% write {}", v * 100.0, v * 100.0))
        }
        Ok(v) => Err(format!("must be a percentage in [1, 100], got {v}")),
        Err(e) => Err(e.to_string()),
    }
}

#[derive(Args, Clone)]
pub struct DataArgs {
    /// Directory holding the data set's four IDX files (.gz or raw). Default: for MNIST
    /// $LENET_DATA_DIR, else ./data/mnist; for Fashion-MNIST $LENET_FASHION_MNIST_DIR, else
    /// ./data/fashion-mnist.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Args, Clone)]
pub struct DatasetArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Which data: `mnist` (looked for in the data directory, downloaded if absent),
    /// `fashion-mnist` (likewise, in its own directory), `cifar10` (CIFAR-10's colour photos, in
    /// its own directory; for a colour network such as --arch lenet5-cifar), `synthetic` (digits
    /// generated from the seed, MNIST-shaped), or `auto` (MNIST, or CIFAR-10 for a colour
    /// network; synthetic digits with a notice only when no data directory was named and none is
    /// found; for `eval`, the data set the model records).
    #[arg(long, default_value = "auto", value_parser = one_of(&DatasetChoice::ALL, DatasetChoice::name, None))]
    pub dataset: DatasetChoice,
    /// Never try to download the data set.
    #[arg(long)]
    pub no_download: bool,
    /// Use only the first N training images.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub limit_train: Option<u32>,
    /// Use only the first N test images.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub limit_test: Option<u32>,
    /// Where to run: `auto` (a hardware GPU if there is one, else the CPU path), `cpu`, `gpu`
    /// (the best adapter of any kind, software ones such as lavapipe included), or an adapter
    /// index from `lenet devices`.
    #[arg(long, default_value = "auto", value_name = "DEVICE", value_parser = super::hints::parse_device)]
    pub device: DeviceChoice,
    /// Worker threads for the CPU path (default: one per core).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub threads: Option<u32>,
}

/// A value parser for one of a library enum's names (`all`, each named by `name` and, in
/// `--help`, described by `help`): the names, their list in `--help` and in clap's error are the
/// library's, with no copy of the variants here.
pub fn one_of<T: Copy + Send + Sync + 'static>(
    all: &'static [T],
    name: fn(T) -> &'static str,
    help: Option<fn(T) -> &'static str>,
) -> impl clap::builder::TypedValueParser<Value = T> {
    let values = all.iter().map(move |&v| {
        let value = clap::builder::PossibleValue::new(name(v));
        match help {
            Some(help) => value.help(help(v)),
            None => value,
        }
    });
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(values)
        .map(move |text| *all.iter().find(|&&v| name(v) == text).expect("one of the names listed"))
}

/// `--threads N`, for the whole process.
pub fn set_threads(threads: Option<u32>) -> anyhow::Result<()> {
    if let Some(n) = threads {
        session::set_cpu_threads(n as usize)?;
    }
    Ok(())
}

impl DatasetArgs {
    /// Finds (or downloads, or generates) the data for a network taking `input`, applies the
    /// limits, and says what it is using. `choice` overrides `--dataset`.
    pub fn load(
        &self,
        choice: DatasetChoice,
        seed: u64,
        input: Shape,
        test_only: bool,
    ) -> anyhow::Result<Loaded> {
        let request = DataRequest {
            choice,
            data_dir: self.data.data_dir.clone(),
            seed,
            download: !self.no_download,
            limit_train: self.limit_train.map(|n| n as usize),
            limit_test: self.limit_test.map(|n| n as usize),
            download_progress: true,
            test_only,
        };
        let loaded = session::load_data(&request, input)?;
        if let Some(notice) = &loaded.notice {
            eprintln!("{}", super::hints::data_notice(notice));
        }
        if self.limit_train.is_some() || self.limit_test.is_some() {
            eprintln!("data: {} (using {})", loaded.description, mnist::sizes(&loaded.split, test_only));
        } else {
            eprintln!("data: {}", loaded.description);
        }
        Ok(loaded)
    }
}
