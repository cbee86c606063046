//! `lenet predict`.

use super::hints;
use anyhow::Result;
use clap::Args;
use lenet_gpu::data::preprocess;
use lenet_gpu::gpu::DeviceChoice;
use lenet_gpu::session::{SavedModel, Session};
use std::path::PathBuf;

#[derive(Args)]
pub struct PredictArgs {
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
    #[arg(long, default_value = "auto", value_name = "DEVICE", value_parser = super::hints::parse_device)]
    device: DeviceChoice,
}

/// Prints each image's top 3 classes with their softmax probabilities. An image that cannot be
/// read gets an error line naming it (the others are still classified) and the exit status is 1.
pub fn run(args: PredictArgs) -> Result<()> {
    // The checkpoint's own network: LeNet-5 and its 1998 original share every tensor shape.
    let model = SavedModel::read(&args.model, None)?;
    // Classes by name for a model trained on Fashion-MNIST, else digits.
    let classes = model.classes();
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
        let mut session = Session::inference(args.device, model, Box::new(hints::notice))?;
        let ranked = session.predict_top(&preprocess::dataset(&images), 3)?;
        for ((path, _), top) in read.iter().zip(ranked) {
            let top: Vec<String> =
                top.iter().map(|&(c, p)| format!("{} ({:.1}%)", classes.class_name(c), 100.0 * p)).collect();
            println!("{}: {}", path.display(), top.join(", "));
        }
    }
    // One "error:" line per unreadable image: all but the last here, the last from main.
    match failures.pop() {
        None => Ok(()),
        Some(last) => {
            for e in &failures {
                eprintln!("error: {}", hints::error(e));
            }
            Err(last.into())
        }
    }
}
