//! `lenet predict`.

use super::{hints, predict_inputs};
use anyhow::Result;
use clap::Args;
use lenet_gpu::data::preprocess::{self, SIDE};
use lenet_gpu::data::{Dataset, photo};
use lenet_gpu::model::arch;
use lenet_gpu::session::DeviceChoice;
use lenet_gpu::session::{SavedModel, Session};
use serde::Serialize;
use std::path::PathBuf;

#[derive(Args)]
pub struct PredictArgs {
    /// The images: one digit each, any size, color or gray, dark ink on a light background or
    /// light on dark; a directory stands for the PNG, JPEG, BMP and GIF files in it, sorted by
    /// name. Each is made MNIST-style first: cropped to its ink, scaled to fit 20x20, centered by
    /// its center of mass in 28x28. Lines or a frame running off the picture's edge around the
    /// digit, and specks far from it, are left out (a note says so).
    #[arg(required = true, value_name = "IMAGE|DIR")]
    images: Vec<PathBuf>,
    /// The model (a safetensors checkpoint written by `lenet train --save`).
    #[arg(long, value_name = "FILE")]
    model: PathBuf,
    /// Where to run: `auto` (a hardware GPU if there is one, else the CPU path), `cpu`, `gpu`
    /// (the best adapter of any kind), or an adapter index from `lenet devices`.
    #[arg(long, default_value = "auto", value_name = "DEVICE", value_parser = super::hints::parse_device)]
    device: DeviceChoice,
    /// How many classes to print for each image, the most probable first.
    #[arg(long, value_name = "K", default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=10))]
    top: u8,
    /// Print one JSON object a line for each image: {"file", "top": [{"class", "probability"}]}
    /// (each class with its "name" too for a Fashion-MNIST model).
    #[arg(long)]
    json: bool,
    /// Also write the 28x28 image the network saw for each input, as a PNG named after it
    /// (`a.jpg` → DIR/a.png), into this directory (made if missing).
    #[arg(long, value_name = "DIR")]
    save_input: Option<PathBuf>,
}

/// One image's line under `--json`.
#[derive(Serialize)]
struct Prediction {
    file: String,
    top: Vec<Ranked>,
    /// Where `--save-input` wrote the image the network saw.
    #[serde(skip_serializing_if = "Option::is_none")]
    input: Option<String>,
}

#[derive(Serialize)]
struct Ranked {
    class: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    probability: f64,
}

/// Prints each image's top K classes with their softmax probabilities. An image that cannot be
/// read gets an error line naming it (the others are still classified) and the exit status is 1.
pub fn run(args: PredictArgs) -> Result<()> {
    let files = predict_inputs::expand(&args.images);
    if let Some(dir) = &args.save_input {
        predict_inputs::check(dir, files.iter().flatten())?;
    }
    // The checkpoint's own network: LeNet-5 and its 1998 original share every tensor shape.
    let model = SavedModel::read(&args.model, None)?;
    // Classes by name for a model trained on Fashion-MNIST or CIFAR-10, else digits.
    let classes = model.classes();
    // A colour network reads photos as they are framed; a gray one, digits made MNIST-style.
    let colour = model.network.input == arch::CIFAR10_INPUT;
    let load = |path: &PathBuf| match colour {
        true => photo::load(path),
        false => preprocess::load_digit(path).map(|digit| {
            if digit.dropped.any() {
                eprintln!("note: {}: left out {}, not part of the digit", path.display(), digit.dropped);
            }
            digit.pixels.to_vec()
        }),
    };
    let mut read = Vec::new();
    let mut failures = Vec::new();
    for file in files {
        match file.and_then(|path| Ok((load(&path)?, path))) {
            Ok((image, path)) => read.push((path, image)),
            Err(e) => failures.push(e),
        }
    }
    if !read.is_empty() {
        let images: Vec<_> = read.iter().map(|(_, image)| image.clone()).collect();
        let data = match colour {
            true => photo::dataset(&images),
            false => Dataset::gray(images.concat(), vec![0; images.len()], SIDE, SIDE),
        };
        let mut session = Session::inference(args.device, model, Box::new(hints::notice))?;
        let ranked = session.predict_top(&data, args.top as usize)?;
        for ((path, _), top) in read.iter().zip(ranked) {
            if args.json {
                let saved = |dir: &PathBuf| dir.join(predict_inputs::saved_name(path)).display().to_string();
                let top = top.iter().map(|&(class, probability)| Ranked {
                    class,
                    name: classes.classes().map(|_| classes.class_name(class)),
                    probability,
                });
                let line = Prediction {
                    file: path.display().to_string(),
                    top: top.collect(),
                    input: args.save_input.as_ref().map(saved),
                };
                println!("{}", serde_json::to_string(&line)?);
            } else {
                let top: Vec<String> = top
                    .iter()
                    .map(|&(c, p)| format!("{} ({:.1}%)", classes.class_name(c), 100.0 * p))
                    .collect();
                println!("{}: {}", path.display(), top.join(", "));
            }
        }
        if let Some(dir) = &args.save_input {
            predict_inputs::save(dir, &read);
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
