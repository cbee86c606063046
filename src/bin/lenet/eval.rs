//! `lenet eval`.

use super::args::{DatasetArgs, parse_arch, set_threads};
use super::outputs::{self, Kind};
use super::{figures, hints};
use anyhow::{Result, bail};
use clap::Args;
use lenet_gpu::data::mnist::{Collection, DatasetChoice};
use lenet_gpu::model::{Network, arch};
use lenet_gpu::session::{SavedModel, Session};
use std::path::PathBuf;

#[derive(Args)]
pub struct EvalArgs {
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
    /// Also draw the test images the model got wrong in this PNG, each with its label and the
    /// prediction: the most confident mistakes first, at most 100 of them.
    #[arg(long, value_name = "FILE")]
    misclassified: Option<PathBuf>,
}

pub fn run(args: EvalArgs) -> Result<()> {
    set_threads(args.dataset.threads)?;
    outputs::check(&[
        (Kind::Confusion, args.confusion.as_deref()),
        (Kind::ShiftPlot, args.shift_plot.as_deref()),
        (Kind::Gallery, args.misclassified.as_deref()),
    ])?;
    let model = SavedModel::read(&args.model, args.arch)?;
    let plan = arch::plan_for_mnist(&model.network)?;
    // A model is evaluated on the data set it records (never on a stand-in for it), unless
    // --dataset names another.
    let recorded = model.recorded_data();
    let choice = match args.dataset.dataset {
        DatasetChoice::Auto => recorded.unwrap_or(DatasetChoice::Auto),
        choice => choice,
    };
    // Evaluation reads the test set alone.
    let loaded = args.dataset.load(choice, args.seed, plan.input(), true)?;
    let (test, collection) = (&loaded.split.test, loaded.collection);
    // Synthetic digits are a data set of their own here (no collection): a model of one scored
    // on another is said to be.
    let name = |c: Option<Collection>| c.map_or("synthetic digits", Collection::name);
    if let Some(trained) = recorded.map(DatasetChoice::collection)
        && trained != collection
    {
        eprintln!("note: this model was trained on {}, not {}", name(trained), name(collection));
    }
    if test.is_empty() {
        bail!("the test set is empty");
    }
    let network = model.network.clone();
    let mut session = Session::inference(args.dataset.device, model, Box::new(hints::notice))?;
    eprintln!("evaluating {} on {}", arch::title(&network), session.device_name());
    let (evaluation, loss, logits) = session.evaluate_with_logits(test)?;
    println!(
        "test accuracy: {:.2}% ({} of {})",
        evaluation.accuracy() * 100.0,
        evaluation.correct(),
        evaluation.total()
    );
    println!("test loss: {loss:.4}");
    // Rows labelled by digit, or by number and name ("  7 Sneaker", "  3 cat") for Fashion-MNIST
    // and CIFAR-10.
    let named = collection.filter(|c| c.classes().is_some());
    let label = |c: usize| match named {
        Some(named) => format!("  {:<13}", format!("{c} {}", named.class_name(c))),
        None => format!("{c:>6}"),
    };
    let rows = if named.is_some() { "true class" } else { "true digit" };
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
    let class_name = |c: usize| collection.unwrap_or(Collection::Mnist).class_name(c);
    if let Some(path) = &args.confusion {
        figures::confusion(&evaluation, &class_name, path);
    }
    if let Some(path) = &args.misclassified {
        let mistakes = lenet_gpu::evaluation::mistakes(&logits, &test.labels, evaluation.classes);
        figures::misclassified(test, &mistakes, &class_name, path);
    }
    let shift = args.shift.or(args.shift_plot.as_ref().map(|_| 4));
    if let Some(max) = shift {
        figures::shift(&mut session, test, max as usize, args.shift_plot.as_deref())?;
    }
    Ok(())
}
