//! How `train` reads and words its training settings: `--augment`'s text, and the schedule,
//! weight decay, augmentation and validation split on the "training ..." line.

use lenet_gpu::data::augment::Augmentation;
use lenet_gpu::model::schedule::{Schedule, ScheduleKind};
use lenet_gpu::session::TrainConfig;

/// `--augment`'s text as an `Augmentation` (the library's words for bad text).
pub fn parse_augment(text: &str) -> std::result::Result<Augmentation, String> {
    text.parse().map_err(|e: lenet_gpu::Error| match e {
        lenet_gpu::Error::InvalidArgument(why) => why,
        other => other.to_string(),
    })
}

/// The schedule, weight decay, augmentation and validation split, as the "training ..." line
/// words them (nothing for the defaults).
pub fn schedule_words(config: &TrainConfig) -> String {
    let Schedule { kind, warmup } = config.schedule;
    let mut words = String::new();
    if kind != ScheduleKind::Constant {
        words += &format!(", {kind} schedule");
    }
    if warmup > 0 {
        words += &format!(", warmup {warmup} steps");
    }
    if config.weight_decay > 0.0 {
        words += &format!(", weight decay {}", config.weight_decay);
    }
    if !config.augmentation.is_none() {
        words += &format!(", augment {}", config.augmentation);
    }
    if config.validation > 0 {
        words += &format!(", {} images held out for validation", config.validation);
    }
    words
}
