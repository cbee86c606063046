//! `lenet convolve`.

use anyhow::Result;
use clap::Args;
use lenet_gpu::convolve::{self, Kernel};
use lenet_gpu::gpu::{DeviceChoice, Gpu};
use std::path::PathBuf;

#[derive(Args)]
pub struct ConvolveArgs {
    /// The image (PNG, JPEG, BMP or GIF), read as grayscale with intensities in [0, 1].
    #[arg(value_name = "IMAGE")]
    image: PathBuf,
    /// `vertical-edge`, `horizontal-edge`, `outline`, or a literal list of rows such as
    /// '[[0,1],[2,3]]' (any rectangular size).
    #[arg(long, value_name = "KERNEL")]
    kernel: Kernel,
    /// How far the kernel moves between outputs.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    stride: u32,
    /// Zero pixels added on every side.
    #[arg(long, default_value_t = 0)]
    padding: u32,
    /// The PNG to write. Signed results map 0 to mid-gray; non-negative ones min..max to 0..255.
    #[arg(long, short = 'o', value_name = "FILE", default_value = "convolved.png")]
    out: PathBuf,
    /// Where to run: `auto` (a hardware GPU if there is one, else the CPU path), `cpu`, `gpu`
    /// (the best adapter of any kind), or an adapter index from `lenet devices`.
    #[arg(long, default_value = "auto", value_name = "DEVICE")]
    device: DeviceChoice,
}

pub fn run(args: ConvolveArgs) -> Result<()> {
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
