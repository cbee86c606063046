//! `lenet convolve`.

use super::outputs::{self, Kind, say};
use anyhow::Result;
use clap::Args;
use lenet_gpu::convolve::{self, GrayScale, Kernel, NAMED_KERNELS};
use lenet_gpu::session::{DeviceChoice, Gpu};
use lenet_gpu::viz;
use std::path::PathBuf;

/// `--kernel`'s long help: every named kernel with what it does and its rows, one a line.
fn kernel_help() -> String {
    let width = NAMED_KERNELS.iter().map(|k| k.name.len()).max().unwrap_or(0);
    let lines: Vec<String> = NAMED_KERNELS
        .iter()
        .map(|k| format!("  {:width$}  {}: {}", k.name, k.does, k.kernel().literal()))
        .collect();
    format!(
        "A named kernel or a literal list of rows such as '[[0,1],[2,3]]' (any rectangular size). \
         The named ones, the lesson's three first:\n{}",
        lines.join("\n")
    )
}

#[derive(Args)]
pub struct ConvolveArgs {
    /// The image (PNG, JPEG, BMP or GIF), read as grayscale with intensities in [0, 1].
    #[arg(value_name = "IMAGE")]
    image: PathBuf,
    /// A named kernel (vertical-edge, horizontal-edge, neighbours, outline, sharpen, blur,
    /// sobel-x, sobel-y; --help says what each does) or a literal list of rows such as
    /// '[[0,1],[2,3]]' (any rectangular size).
    #[arg(long, value_name = "KERNEL", long_help = kernel_help())]
    kernel: Kernel,
    /// How far the kernel moves between outputs.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    stride: u32,
    /// Zero pixels added on every side.
    #[arg(long, default_value_t = 0)]
    padding: u32,
    /// The PNG to write (`-`: standard output). Signed results map 0 to mid-gray; non-negative ones min..max to 0..255.
    #[arg(long, short = 'o', value_name = "FILE", default_value = "convolved.png")]
    out: PathBuf,
    /// Write a figure instead of the bare result: the input and the result side by side,
    /// enlarged, with a caption naming the kernel, what it does and what the grays mean.
    #[arg(long)]
    caption: bool,
    /// Where to run: `auto` (a hardware GPU if there is one, else the CPU path), `cpu`, `gpu`
    /// (the best adapter of any kind), or an adapter index from `lenet devices`.
    #[arg(long, default_value = "auto", value_name = "DEVICE", value_parser = super::hints::parse_device)]
    device: DeviceChoice,
}

pub fn run(args: ConvolveArgs) -> Result<()> {
    outputs::check(&[(Kind::Picture, Some(&args.out))])?;
    let image = convolve::read_plane(&args.image)?;
    let gpu = Gpu::open(args.device)?;
    let on = match &gpu {
        Some(gpu) => format!("GPU ({})", gpu.name()),
        None => "CPU".to_string(),
    };
    let (stride, padding) = (args.stride as usize, args.padding as usize);
    let out = convolve::convolve(gpu.as_ref(), &image, &args.kernel, stride, padding)?;
    if args.caption {
        viz::convolved::draw(&image, &out, &args.kernel, stride, padding)?.save(&args.out)?;
    } else {
        convolve::write_png(&args.out, &out)?;
    }
    let k = &args.kernel.0;
    say!(
        "{}: {}x{} -> {}x{} ({}x{} kernel, stride {stride}, padding {padding}, on the {on}), wrote {}",
        args.image.display(),
        image.width,
        image.height,
        out.width,
        out.height,
        k.width,
        k.height,
        outputs::name(&args.out)
    );
    say!("  kernel: {}", args.kernel.describe());
    say!("  in the picture: {}", GrayScale::of(&out).describe());
    Ok(())
}
