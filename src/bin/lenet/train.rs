//! `lenet train`.

use super::args::{DatasetArgs, checked_float, one_of, parse_arch, percentage, set_threads};
use super::best::BestModel;
use super::figures::TrainFigures;
use super::hints;
use super::outputs::{self, Kind};
use super::progress::ConsoleObserver;
use super::target::Target;
use crate::settings::{parse_augment, schedule_words};
use anyhow::Result;
use clap::Args;
use lenet_gpu::data::augment::Augmentation;
use lenet_gpu::data::mnist::DatasetChoice;
use lenet_gpu::metrics::Observers;
use lenet_gpu::model::schedule::ScheduleKind;
use lenet_gpu::model::{Network, arch};
use lenet_gpu::session::{
    self, DataIdentity, GivenSettings, Goals, Judgement, Observer, Optimizer, OptimizerKind, Recipe,
    SavedModel, Session, TrainConfig, TrainSpec, check,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct TrainArgs {
    #[command(flatten)]
    dataset: DatasetArgs,
    /// Passes over the training set, in all [default: 1, or with --resume the checkpoint's total].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    epochs: Option<u32>,
    /// Images per training step (the last step of an epoch may be smaller) [default: 64, or with
    /// --resume the checkpoint's].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    batch_size: Option<u32>,
    /// Learning rate [default: 0.01 for sgd, 0.001 for adam, or with --resume the checkpoint's].
    #[arg(long, value_parser = checked_float(check::learning_rate), allow_negative_numbers = true)]
    lr: Option<f32>,
    /// Momentum for SGD, in [0, 1) [default: 0.9, or with --resume the checkpoint's].
    #[arg(long, value_parser = checked_float(check::momentum), allow_negative_numbers = true)]
    momentum: Option<f32>,
    /// The optimizer [default: sgd, or with --resume the checkpoint's].
    #[arg(long, value_parser = one_of(&OptimizerKind::ALL, OptimizerKind::name, Some(OptimizerKind::help)))]
    optimizer: Option<OptimizerKind>,
    /// A named recipe tuned for LeNet-5 on MNIST (on a validation split), filling in the settings
    /// not given: `fast` (99% test accuracy in 3 epochs: sgd, lr 0.1, momentum 0.9, onecycle,
    /// weight decay 5e-4, batch 128, 3 epochs) or `best` (the same for 15 epochs with --augment
    /// shift:2). See docs/recipes.md.
    #[arg(long, value_name = "NAME")]
    recipe: Option<Recipe>,
    /// How the learning rate moves, updated every step (PyTorch's schedulers stepped per
    /// update): `constant`; `step` (a tenth of --lr from half-way, a hundredth from three
    /// quarters); `cosine` (CosineAnnealingLR down to 0 over the run); `onecycle` (OneCycleLR
    /// with --lr as max_lr and its defaults, momentum not cycled). All but `constant` are drawn
    /// over the run's length, so --resume needs the same --epochs [default: constant, or with
    /// --resume the checkpoint's].
    #[arg(long, value_parser = one_of(&ScheduleKind::ALL, ScheduleKind::name, None))]
    schedule: Option<ScheduleKind>,
    /// Raise the learning rate linearly over the first STEPS updates (step t gets (t+1)/STEPS of
    /// it) before the schedule; with `onecycle`, its rise takes STEPS updates instead of 30% of
    /// the run [default: 0, or with --resume the checkpoint's].
    #[arg(long, value_name = "STEPS")]
    warmup: Option<u64>,
    /// Weight decay: decoupled for adam (AdamW), added to the gradient (L2) for sgd, as PyTorch
    /// does [default: 0, or with --resume the checkpoint's].
    #[arg(long, value_name = "WD", value_parser = checked_float(check::weight_decay), allow_negative_numbers = true)]
    weight_decay: Option<f32>,
    /// Move every training image of every step by a random whole number of pixels, up to N along
    /// each axis (zero fill), drawn from the seed, the same on both paths: `shift:N` (N from 1
    /// to 8) or `none` [default: none, or with --resume the checkpoint's].
    #[arg(long, value_name = "AUG", value_parser = parse_augment)]
    augment: Option<Augmentation>,
    /// Hold N training images out (chosen from the seed, the same every epoch), train on the
    /// rest, and report accuracy and loss on them after each epoch: tune on these, not on the
    /// test set. --target-accuracy then stops on validation accuracy [default: 0, or with
    /// --resume the checkpoint's].
    #[arg(long, value_name = "N")]
    validation: Option<usize>,
    /// Stop after the first epoch whose test accuracy (with --validation, validation accuracy)
    /// reaches P percent (e.g. 99), and say how long it took.
    #[arg(long, value_name = "P", value_parser = percentage)]
    target_accuracy: Option<f64>,
    /// Seed for initialization, shuffling and synthetic data: the same seed gives the same numbers
    /// [default: 1, or with --resume the checkpoint's].
    #[arg(long)]
    seed: Option<u64>,
    /// Save the model here (safetensors, PyTorch's state_dict names) after every epoch, atomically
    /// [default with --resume: the file resumed from].
    #[arg(long, short = 'o', value_name = "FILE")]
    save: Option<PathBuf>,
    /// Let --save (and --save-best) replace a file another run saved: without it a new run
    /// refuses to save over a model it did not write, naming that model's epoch and accuracy.
    /// Re-running a command is a new run; --resume continues the saved one instead.
    #[arg(long)]
    overwrite: bool,
    /// Also keep the model of the epoch with the best test accuracy (with --validation, validation
    /// accuracy), saved whenever an epoch beats it, in FILE [default: --save's file with .best before its extension, e.g.
    /// lenet.best.safetensors]. A model file only (for eval, predict, --init), recording its epoch
    /// and test accuracy; a resumed run keeps the best of the whole run.
    #[arg(long, value_name = "FILE", num_args = 0..=1)]
    save_best: Option<Option<PathBuf>>,
    /// Continue the run saved in this checkpoint (by --save, which also writes the optimizer
    /// state to FILE.optim.safetensors) from its next epoch up to --epochs, saving back to it
    /// unless --save says otherwise. Settings not given (--seed, --batch-size, --arch, the
    /// optimizer's, --dataset and --limit-train) are the saved run's; given ones must match them.
    #[arg(long, value_name = "FILE")]
    resume: Option<PathBuf>,
    /// Start from the parameters of this saved model (fine-tuning), with the settings of this
    /// run and a fresh optimizer, counting epochs from 1; --resume instead continues a run exactly.
    #[arg(long, value_name = "FILE", conflicts_with = "resume")]
    init: Option<PathBuf>,
    /// The network: `lenet5`, `lenet5-1998` (tanh, average pooling), a layer list such as
    /// conv8k3p1,relu,maxpool2,dense10 (syntax in docs/cli.md), or a file holding one
    /// [default: lenet5, or with --init or --resume the network the checkpoint records].
    #[arg(long, value_name = "SPEC", value_parser = parse_arch)]
    arch: Option<Network>,
    /// Write training figures to this CSV file as training goes (kind,epoch,step,loss,accuracy,
    /// images_per_s,learning_rate): a `train` row every --metrics-every steps and a `test` row
    /// after each epoch (see docs/pictures.md). With --resume, its rows up to the resumed epoch are kept.
    /// `-` is standard output (the epoch lines then go to standard error).
    #[arg(long, value_name = "FILE")]
    metrics: Option<PathBuf>,
    /// Steps per `train` row of --metrics (and of --plot's curves) [default: 50, fewer in a short
    /// run, so that it has about 100 rows].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    metrics_every: Option<u32>,
    /// Draw the loss and accuracy curves in this PNG, redrawn after every epoch.
    #[arg(long, value_name = "FILE")]
    plot: Option<PathBuf>,
}

pub fn run(args: TrainArgs) -> Result<()> {
    set_threads(args.dataset.threads)?;
    // --resume without --save saves back to the file resumed from.
    let save = args.save.clone().or_else(|| args.resume.clone());
    let best_path = BestModel::path(&args.save_best, save.as_deref())?;
    outputs::check(&[
        (Kind::Model, save.as_deref()),
        (Kind::BestModel, best_path.as_deref()),
        (Kind::Metrics, args.metrics.as_deref()),
        (Kind::Curves, args.plot.as_deref()),
    ])?;
    // What the run being resumed records, for the settings not given. A file that cannot be read
    // is said at once, before any data is looked for, as the session would say it.
    let recorded = args.resume.as_deref().map(session::resume_metadata).transpose()?;
    // --init's model, with its network (an --arch that disagrees with the recorded one is refused).
    let init = match &args.init {
        Some(path) => Some(SavedModel::read(path, args.arch.clone())?),
        None => None,
    };
    let given = GivenSettings {
        network: init.as_ref().map(|m| m.network.clone()).or(args.arch.clone()),
        seed: args.seed,
        batch_size: args.batch_size.map(|b| b as usize),
        optimizer: args.optimizer,
        lr: args.lr,
        momentum: args.momentum,
        epochs: args.epochs.map(|e| e as usize),
        schedule: args.schedule,
        warmup: args.warmup,
        weight_decay: args.weight_decay,
        augmentation: args.augment,
        validation: args.validation,
    };
    let given = match args.recipe {
        Some(recipe) => recipe.fill(given),
        None => given,
    };
    let settings = given.complete(recorded.as_ref().zip(args.resume.as_deref()));
    let config = settings.config();
    let (network, optimizer) = (settings.network, settings.optimizer);
    config.validate()?;
    let plan = arch::plan_for_mnist(&network)?;
    if let Some(warning) = arch::ending_activation_warning(&network) {
        eprintln!("warning: {warning}");
    }
    let dataset = data_to_resume(&args.dataset, recorded.as_ref());
    // A colour network's data is CIFAR-10 unless --dataset names another.
    let choice = match dataset.dataset {
        DatasetChoice::Auto if plan.input() == arch::CIFAR10_INPUT => DatasetChoice::Cifar10,
        choice => choice,
    };
    if let Some(collection) = choice.collection()
        && collection.input() != plan.input()
        && init.is_none()
    {
        let arch = match collection {
            lenet_gpu::data::mnist::Collection::Cifar10 => {
                "lenet5-cifar (or an --arch starting input3x32x32)"
            }
            _ => "lenet5 (or an --arch of 1x28x28 inputs)",
        };
        anyhow::bail!(
            "{} holds {} images, but {} takes {} inputs: give --arch {arch}",
            collection.name(),
            collection.input(),
            arch::title(&network),
            plan.input()
        );
    }
    let loaded = dataset.load(choice, config.seed, plan.input(), false)?;
    // The recipes' epochs were tuned on the whole training set: on a part of it they are fewer steps.
    let trained_on = loaded.split.train.len().saturating_sub(config.validation);
    if let Some(recipe) = args.recipe
        && trained_on < TUNED_ON
    {
        eprintln!(
            "note: --recipe {recipe} was tuned on {TUNED_ON} MNIST images; on {trained_on} its {} epochs take {:.0}% of the steps it was tuned for, so expect less accuracy (more --epochs make up for it)",
            config.epochs,
            100.0 * trained_on as f64 / TUNED_ON as f64
        );
    }
    let spec = TrainSpec {
        device: args.dataset.device,
        network: network.clone(),
        config: config.clone(),
        data: DataIdentity::of(loaded.collection, loaded.split.train.len()),
        save_to: save.clone(),
        resume_from: args.resume.clone(),
        overwrite: args.overwrite,
    };
    let mut session = match init {
        Some(model) => Session::train_from(spec, model.params, Box::new(hints::notice))?,
        None => Session::train(spec, Box::new(hints::notice))?,
    };
    if let (Some(path), false) = (&best_path, args.overwrite) {
        let run_id = session.record().and_then(|r| r.run_id);
        session::record::refuse_overwrite(path, run_id.as_deref())?;
    }
    if let Some(path) = &args.init {
        eprintln!("starting from the parameters in {}", path.display());
    }
    let resumed_after = args.resume.as_ref().map(|_| session.epochs_done());
    if let (Some(from), Some(epoch)) = (&args.resume, resumed_after) {
        eprintln!(
            "resuming from {} after epoch {epoch}, on its data: {}",
            from.display(),
            data_words(&loaded)
        );
        if args.save.is_none() {
            eprintln!("saving back to {} after every epoch (--save FILE to write elsewhere)", from.display());
        }
    }
    let optimizer_words = match optimizer {
        Optimizer::Sgd { lr, momentum } => format!("SGD lr {lr} momentum {momentum}"),
        Optimizer::Adam { lr, .. } => format!("Adam lr {lr}"),
    } + &schedule_words(&config);
    eprintln!(
        "training {} ({} parameters) on {}: {} epoch{}, batch {}, {optimizer_words}, seed {}",
        arch::title(&network),
        session.plan().trained_count(),
        session.device_name(),
        config.epochs,
        if config.epochs == 1 { "" } else { "s" },
        config.batch_size,
        config.seed
    );
    let mut figures = TrainFigures::new(
        args.metrics.as_deref(),
        metrics_every(args.metrics_every, loaded.split.train.len(), &config, resumed_after),
        args.plot.as_deref(),
        config.batch_size,
        optimizer.lr(),
        resumed_after,
    )?;
    // Ctrl-C stops training after the step under way (a save under way finishes); a second one
    // ends the process at once.
    let interrupt = session.interrupt();
    let _ = ctrlc::set_handler(move || match interrupt.requested() {
        true => std::process::exit(130),
        false => interrupt.request(),
    });
    let mut target = args.target_accuracy.map(Target::new);
    let mut goals = Goals::new(target.as_ref().map(Target::fraction), false);
    let mut best = best_path.map(|path| {
        let (best, so_far) = BestModel::new(path, &session);
        if let Some(so_far) = so_far {
            goals = std::mem::take(&mut goals).with_best(so_far);
        }
        best
    });
    let mut console = ConsoleObserver::new(config.epochs, loaded.collection.is_none());
    let mut warned_chance = false; // once a run
    if let Some(f) = &mut figures {
        f.log.follow_schedule(optimizer, config.update_rule(loaded.split.train.len()));
    }
    while session.epochs_left() {
        let mut observers: Vec<&mut dyn Observer> = vec![&mut console];
        if let Some(f) = &mut figures {
            observers.push(&mut f.log);
        }
        let report = session.train_epoch(&loaded.split, &mut Observers(observers));
        if let Some(f) = &mut figures {
            f.epoch_done(); // the rows so far are kept and drawn even if the epoch failed
        }
        if let Err(lenet_gpu::Error::Interrupted { .. }) = report {
            drop(console); // clears the progress bar
            eprintln!("{}", interrupted(&session, save.as_deref()));
            return Err(super::Stopped.into());
        }
        let report = report?;
        let classes = session.plan().classes();
        if let Some(stuck) = session::chance_level(&report, classes, &config, loaded.split.train.len())
            && !warned_chance
        {
            eprintln!("warning: {}", stuck.describe(&|rate| format!("--lr {rate}")));
            warned_chance = true;
        }
        if let Some(t) = &mut target {
            t.epoch_trained(&report);
        }
        let (accuracy, judged) = session::judged(&report);
        let judgement = Judgement { epoch: report.epoch, accuracy, judged };
        let verdict = goals.consider(&session, judgement)?;
        if let (Some(best), true) = (&mut best, verdict.best) {
            best.save(&session, &report, judgement)?;
        }
        if let (Some(t), true) = (&target, verdict.reached) {
            eprintln!("{}", t.reached(judgement));
            break;
        }
    }
    if let Some(line) = target.as_ref().and_then(|t| t.missed(&goals)) {
        eprintln!("{line}");
    }
    if let Some(path) = &save {
        eprintln!("model saved to {}", path.display());
    }
    if let Some(line) = best.as_ref().and_then(|b| b.describe(&goals)) {
        eprintln!("{line}");
    }
    for line in figures.iter().flat_map(|f| f.describe(args.metrics.as_deref())) {
        eprintln!("{line}");
    }
    Ok(())
}

/// The training images the recipes were tuned on: MNIST's 60,000 less 5,000 held out.
const TUNED_ON: usize = 55_000;

/// What an interrupted run leaves, and how to continue it.
fn interrupted(session: &Session, save: Option<&Path>) -> String {
    let epoch = session.epochs_done() + 1;
    match (save, session.last_saved()) {
        (Some(path), Some(saved)) => format!(
            "interrupted in epoch {epoch}: {} holds the model after epoch {saved}; to continue, run the same command with --resume {}",
            path.display(),
            path.display()
        ),
        (Some(path), None) => {
            format!("interrupted in epoch {epoch}, before any epoch was saved to {}", path.display())
        }
        (None, _) => {
            format!("interrupted in epoch {epoch}; nothing was saved (--save FILE keeps every epoch)")
        }
    }
}

/// "MNIST, 5000 training and 1000 test images": what a resumed run took.
fn data_words(loaded: &lenet_gpu::data::mnist::Loaded) -> String {
    let name = loaded.collection.map_or("synthetic digits", |c| c.name());
    let split = &loaded.split;
    format!("{name}, {} training and {} test images", split.train.len(), split.test.len())
}

/// The data options of a run resuming the one `recorded` describes: `--dataset auto`, no
/// `--limit-train` and no `--limit-test` mean the saved run's data set and numbers of training
/// and test images.
fn data_to_resume(given: &DatasetArgs, recorded: Option<&HashMap<String, String>>) -> DatasetArgs {
    let mut data = given.clone();
    if data.limit_test.is_none() {
        let saved = recorded.and_then(|m| m.get(session::record::TEST_EXAMPLES)?.parse().ok());
        data.limit_test = saved.filter(|&n| n > 0);
    }
    let Some(saved) = recorded.and_then(DataIdentity::recorded) else { return data };
    if data.dataset == DatasetChoice::Auto {
        data.dataset = DatasetChoice::named(&saved.dataset).unwrap_or(DatasetChoice::Auto);
    }
    if data.limit_train.is_none() {
        data.limit_train = u32::try_from(saved.train_examples).ok().filter(|&n| n > 0);
    }
    data
}

/// `--metrics-every`, or by default 50 steps, fewer when the run has under 5000 steps left: about
/// 100 `train` rows, so that a short run's curves have points enough.
fn metrics_every(
    given: Option<u32>,
    train_examples: usize,
    config: &TrainConfig,
    resumed_after: Option<usize>,
) -> usize {
    if let Some(n) = given {
        return n as usize;
    }
    let steps = train_examples.div_ceil(config.batch_size.max(1))
        * config.epochs.saturating_sub(resumed_after.unwrap_or(0));
    (steps / 100).clamp(1, 50)
}
