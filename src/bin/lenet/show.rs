//! `lenet show`: pictures of what a trained network has learned and sees.

use super::outputs::{self, Kind, say};
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use lenet_gpu::data::{photo, preprocess};
use lenet_gpu::model::{Network, arch};
use lenet_gpu::session::DeviceChoice;
use lenet_gpu::session::{SavedModel, Session};
use lenet_gpu::viz;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct ShowArgs {
    #[command(subcommand)]
    what: ShowCommand,
}

#[derive(Subcommand)]
enum ShowCommand {
    /// The learned kernels of every convolution layer as a grid (rows: output channels, columns:
    /// input channels; blue negative, white 0, red positive, one scale per layer).
    Kernels(KernelsArgs),
    /// Every feature map of every layer for one image (made MNIST-style as `lenet predict` does),
    /// with the class probabilities, computed by the engine on either path.
    Features(FeaturesArgs),
    /// The training curves (loss, training and test accuracy) of a metrics file written by
    /// `lenet train --metrics`.
    Curves(CurvesArgs),
}

#[derive(Args)]
struct ModelArgs {
    /// The model (a safetensors checkpoint written by `lenet train --save`).
    #[arg(long, value_name = "FILE")]
    model: PathBuf,
    /// The network [default: the one recorded in the checkpoint, else lenet5]; an error if the
    /// checkpoint records another.
    #[arg(long, value_name = "SPEC", value_parser = super::args::parse_arch)]
    arch: Option<Network>,
}

#[derive(Args)]
struct KernelsArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// The PNG to write (`-`: standard output).
    #[arg(long, short = 'o', value_name = "FILE", default_value = "kernels.png")]
    out: PathBuf,
    /// How large to draw the kernels: 1 draws a kernel about 100 pixels a side (conv1's 5x5: 20
    /// pixels a weight), 2 twice that, 0.5 half.
    #[arg(long, value_name = "FACTOR", default_value_t = 1.0, value_parser = parse_scale)]
    scale: f32,
}

/// `--scale`: a number above 0, at most 10.
fn parse_scale(text: &str) -> std::result::Result<f32, String> {
    match text.trim().parse::<f32>() {
        Ok(v) if v > 0.0 && v <= 10.0 => Ok(v),
        _ => Err(format!("expected a number above 0 and at most 10, such as 2 or 0.5, not {text:?}")),
    }
}

#[derive(Args)]
struct FeaturesArgs {
    /// The image (PNG, JPEG, BMP or GIF) of one digit, any size, either polarity.
    #[arg(value_name = "IMAGE")]
    image: PathBuf,
    #[command(flatten)]
    model: ModelArgs,
    /// The PNG to write (`-`: standard output).
    #[arg(long, short = 'o', value_name = "FILE", default_value = "features.png")]
    out: PathBuf,
    /// Where to run: `auto` (a hardware GPU if there is one, else the CPU path), `cpu`, `gpu`
    /// (the best adapter of any kind), or an adapter index from `lenet devices`.
    #[arg(long, default_value = "auto", value_name = "DEVICE", value_parser = super::hints::parse_device)]
    device: DeviceChoice,
}

#[derive(Args)]
struct CurvesArgs {
    /// The metrics file (CSV) written by `lenet train --metrics`.
    #[arg(value_name = "METRICS")]
    metrics: PathBuf,
    /// The PNG to write (`-`: standard output).
    #[arg(long, short = 'o', value_name = "FILE", default_value = "curves.png")]
    out: PathBuf,
}

pub fn run(args: ShowArgs) -> Result<()> {
    let out = match &args.what {
        ShowCommand::Kernels(a) => &a.out,
        ShowCommand::Features(a) => &a.out,
        ShowCommand::Curves(a) => &a.out,
    };
    outputs::check(&[(Kind::Picture, Some(out))])?;
    match args.what {
        ShowCommand::Kernels(args) => kernels(args),
        ShowCommand::Features(args) => features(args),
        ShowCommand::Curves(args) => curves(args),
    }
}

/// The checkpoint `--model` names, with its network.
fn load_model(args: &ModelArgs) -> Result<SavedModel> {
    if !args.model.is_file() {
        anyhow::bail!(
            "{}: no such model file (write one with `lenet train --save FILE`)",
            args.model.display()
        );
    }
    Ok(SavedModel::read(&args.model, args.arch.clone())?)
}

fn save(picture: &viz::Picture, out: &Path) -> Result<()> {
    picture.save(out).with_context(|| format!("writing {}", outputs::name(out)))
}

fn kernels(args: KernelsArgs) -> Result<()> {
    let model = load_model(&args.model)?;
    let plan = arch::plan_for_mnist(&model.network)?;
    let picture = viz::kernels::draw_scaled(&plan, &model.params, args.scale)?;
    save(&picture, &args.out)?;
    let layers: Vec<String> = plan
        .layers
        .iter()
        .filter_map(|l| match l.layer {
            lenet_gpu::model::Layer::Conv2d { out_channels, kernel_h, kernel_w, .. } => {
                Some(format!("{} ({out_channels}x{} of {kernel_h}x{kernel_w})", l.name, l.input.channels))
            }
            _ => None,
        })
        .collect();
    say!(
        "kernels of {}: wrote {} ({}x{})",
        layers.join(", "),
        outputs::name(&args.out),
        picture.width,
        picture.height
    );
    Ok(())
}

fn features(args: FeaturesArgs) -> Result<()> {
    let model = load_model(&args.model)?;
    // A colour network reads the photo as `predict` does, a gray one the digit made MNIST-style.
    let (image, data) = match model.network.input == lenet_gpu::model::arch::CIFAR10_INPUT {
        true => {
            let image = photo::load(&args.image)?;
            (image.clone(), photo::dataset(&[image]))
        }
        false => {
            let image = preprocess::load(&args.image)?;
            (image.to_vec(), preprocess::dataset(&[image]))
        }
    };
    let classes = model.classes();
    let mut session = Session::inference(args.device, model, Box::new(super::hints::notice))?;
    let activations = session.activations(&data)?;
    let picture = viz::features::draw(session.plan(), &image, &activations, &|c| classes.class_name(c))?;
    save(&picture, &args.out)?;
    let probabilities =
        lenet_gpu::evaluation::softmax(&activations.last().context("the network has no layers")?.values);
    let best =
        (0..probabilities.len()).max_by(|&a, &b| probabilities[a].total_cmp(&probabilities[b])).unwrap_or(0);
    say!(
        "{}: {} ({:.1}%) on {}; {} layers drawn, wrote {} ({}x{})",
        args.image.display(),
        classes.class_name(best),
        100.0 * probabilities[best],
        session.device_name(),
        activations.len(),
        outputs::name(&args.out),
        picture.width,
        picture.height
    );
    Ok(())
}

fn curves(args: CurvesArgs) -> Result<()> {
    let rows = lenet_gpu::metrics::read(&args.metrics)?;
    let picture = viz::curves::draw(&rows).with_context(|| format!("plotting {}", args.metrics.display()))?;
    save(&picture, &args.out)?;
    say!("{} rows of {}: wrote {}", rows.len(), args.metrics.display(), outputs::name(&args.out));
    Ok(())
}
