//! `fit`'s settings as the Python side keeps them (a dict: "batch_size", "optimizer", "lr",
//! "momentum", "augment", "schedule", "warmup", "weight_decay"), decided and checked by the
//! library: what a `fit` gives, else its recipe's, else the last `fit`'s, else the library's
//! defaults (`GivenSettings::or`, `complete`), each range the library's (`session::check`).

use crate::errors::value_error;
use lenet_gpu::data::augment::Augmentation;
use lenet_gpu::model::optimizer::{DEFAULT_MOMENTUM, Optimizer};
use lenet_gpu::model::schedule::{Schedule, ScheduleKind};
use lenet_gpu::session::{GivenSettings, OptimizerKind, Recipe, TrainConfig, check};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// The settings `settings` gives (a missing key or None: not given). The Python side has
/// checked the types; names and ranges are checked here, each error naming its argument.
pub fn given(settings: &Bound<'_, PyDict>) -> PyResult<GivenSettings> {
    fn get<'py, T: pyo3::conversion::FromPyObjectOwned<'py>>(
        d: &Bound<'py, PyDict>,
        key: &str,
    ) -> PyResult<Option<T>> {
        match d.get_item(key)? {
            Some(value) if !value.is_none() => Ok(Some(value.extract::<T>().map_err(Into::into)?)),
            _ => Ok(None),
        }
    }
    fn named<T: std::str::FromStr<Err = String>>(text: Option<String>, key: &str) -> PyResult<Option<T>> {
        text.map(|t| t.parse().map_err(|why| value_error(format!("{key}: {why}")))).transpose()
    }
    fn ranged(value: Option<f32>, key: &str, range: fn(f32) -> Result<f32, String>) -> PyResult<Option<f32>> {
        value.map(|v| range(v).map_err(|why| value_error(format!("{key} {why}")))).transpose()
    }
    Ok(GivenSettings {
        batch_size: get(settings, "batch_size")?,
        optimizer: named::<OptimizerKind>(get(settings, "optimizer")?, "optimizer")?,
        lr: ranged(get(settings, "lr")?, "lr", check::learning_rate)?,
        momentum: ranged(get(settings, "momentum")?, "momentum", check::momentum)?,
        augmentation: get::<u32>(settings, "augment")?.map(Augmentation::shift),
        schedule: named::<ScheduleKind>(get(settings, "schedule")?, "schedule")?,
        warmup: get(settings, "warmup")?,
        weight_decay: ranged(get(settings, "weight_decay")?, "weight_decay", check::weight_decay)?,
        ..GivenSettings::default()
    })
}

/// A `fit`'s settings: `given`, else `recipe`'s, else `last`'s, else the library's defaults;
/// with "epochs", this `fit`'s epochs (given, else the recipe's, else 1).
pub fn complete<'py>(
    py: Python<'py>,
    last: &Bound<'py, PyDict>,
    given_now: &Bound<'py, PyDict>,
    epochs: Option<usize>,
    recipe: Option<&str>,
) -> PyResult<Bound<'py, PyDict>> {
    let recipe: Option<Recipe> =
        recipe.map(|r| r.parse().map_err(|why: String| value_error(format!("recipe: {why}")))).transpose()?;
    let now = GivenSettings { epochs, ..given(given_now)? };
    let now = match recipe {
        Some(recipe) => recipe.fill(now),
        None => now,
    };
    // Each fit trains one epoch unless told: the last fit's count is no setting to keep.
    let settings = now.or(GivenSettings { epochs: None, ..given(last)? }).complete(None);
    settings.config().validate().map_err(|e| value_error(e.to_string()))?;
    to_dict(py, &settings.config())
}

/// `config`'s settings as the Python side keeps them, its epochs as this fit's.
pub fn to_dict<'py>(py: Python<'py>, config: &TrainConfig) -> PyResult<Bound<'py, PyDict>> {
    let (optimizer, momentum) = match config.optimizer {
        Optimizer::Sgd { momentum, .. } => (OptimizerKind::Sgd, momentum),
        Optimizer::Adam { .. } => (OptimizerKind::Adam, DEFAULT_MOMENTUM),
    };
    let Schedule { kind, warmup } = config.schedule;
    let out = PyDict::new(py);
    out.set_item("epochs", config.epochs)?;
    out.set_item("batch_size", config.batch_size)?;
    out.set_item("optimizer", optimizer.name())?;
    out.set_item("lr", config.optimizer.lr())?;
    out.set_item("momentum", momentum)?;
    out.set_item("augment", config.augmentation.max_shift)?;
    out.set_item("schedule", kind.name())?;
    out.set_item("warmup", warmup)?;
    out.set_item("weight_decay", config.weight_decay)?;
    Ok(out)
}

/// The names a `fit` argument takes, from the library's lists: ("optimizer", [...]), ...
pub fn names() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        ("optimizer", OptimizerKind::ALL.iter().map(|k| k.name()).collect()),
        ("schedule", ScheduleKind::ALL.iter().map(|k| k.name()).collect()),
        ("recipe", Recipe::NAMES.to_vec()),
    ]
}
