//! Checkpoints in safetensors format, with the tensor names, shapes and layouts of PyTorch's
//! state_dict for the same network, so a model moves between this engine and PyTorch with
//! `safetensors.torch.save_file` / `load_file`.

use crate::cpu::optimizer::{Optimizer, OptimizerState};
use crate::error::{Remedy, ResumeProblem};
use crate::model::{Network, Parameters, Plan, arch};
use crate::{Error, Result};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The metadata key of a run's id (see `session::RunRecord::run_id`), the same in its model file
/// and its optimizer file.
pub const RUN_ID: &str = "run_id";

/// Where every file a run writes goes through (`-`, links, devices: see `output`).
pub use crate::output::write_atomically;

/// Writes `params` to `path` with `metadata`, atomically: the bytes go to a temporary file in the
/// same directory, which is synced and then renamed over `path`, so a crash leaves either the old
/// checkpoint or the new one, never half of one.
pub fn save(path: &Path, params: &Parameters, metadata: HashMap<String, String>) -> Result<()> {
    check_finite(path, params)?;
    let serialized = to_bytes(params, metadata)
        .map_err(|e| Error::bad_data(path, format!("cannot serialize checkpoint: {e}")))?;
    write_atomically(path, &serialized)
}

/// The bytes `save` writes: `params` as safetensors with `metadata`.
pub fn to_bytes(params: &Parameters, metadata: HashMap<String, String>) -> Result<Vec<u8>> {
    let bytes: Vec<Vec<u8>> = params
        .views
        .iter()
        .map(|v| {
            let values = params.values[v.offset..v.offset + v.len].iter();
            if v.count {
                values.flat_map(|&x| (x as i64).to_le_bytes()).collect()
            } else {
                values.flat_map(|x| x.to_le_bytes()).collect()
            }
        })
        .collect();
    let tensors = params.views.iter().zip(&bytes).map(|(v, b)| {
        let dtype = if v.count { Dtype::I64 } else { Dtype::F32 };
        let view = TensorView::new(dtype, v.shape.clone(), b).expect("view length matches its shape");
        (v.name.clone(), view)
    });
    safetensors::serialize(tensors, Some(metadata)).map_err(|e| Error::InvalidArgument(e.to_string()))
}

/// Refuses parameters holding NaN or infinity (training diverged at the last step of an epoch):
/// saving them would replace the last good checkpoint at `path` with a useless one.
fn check_finite(path: &Path, params: &Parameters) -> Result<()> {
    for v in &params.views {
        if let Some(x) = params.values[v.offset..v.offset + v.len].iter().find(|x| !x.is_finite()) {
            return Err(Error::Diverged(crate::error::Divergence::Parameters {
                tensor: v.name.clone(),
                value: *x,
                path: path.to_path_buf(),
            }));
        }
    }
    Ok(())
}

/// Where the optimizer state of the model checkpoint at `model` goes: a sibling file with
/// `.optim.safetensors` appended to its name, so the model file itself holds only the network's
/// tensors (and stays loadable by PyTorch's `load_state_dict(strict=True)`).
pub fn optimizer_path(model: &Path) -> PathBuf {
    let mut name = model.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".optim.safetensors");
    model.with_file_name(name)
}

/// The optimizer and its hyper-parameters as one line, e.g. "adam lr=0.001 beta1=0.9
/// beta2=0.999 eps=0.00000001", recorded as "optimizer" in training checkpoints and compared
/// when resuming.
pub fn describe_optimizer(optimizer: &Optimizer) -> String {
    match *optimizer {
        Optimizer::Sgd { lr, momentum } => format!("sgd lr={lr} momentum={momentum}"),
        Optimizer::Adam { lr, beta1, beta2, eps } => {
            format!("adam lr={lr} beta1={beta1} beta2={beta2} eps={eps}")
        }
    }
}

/// The optimizer `describe_optimizer` describes, if `text` is such a description.
pub fn parse_optimizer_description(text: &str) -> Option<Optimizer> {
    let mut words = text.split_whitespace();
    let kind = words.next()?;
    let values: HashMap<&str, f32> = words
        .map(|w| w.split_once('=').and_then(|(k, v)| Some((k, v.parse().ok()?))))
        .collect::<Option<_>>()?;
    let get = |key: &str| values.get(key).copied();
    match kind {
        "sgd" => Some(Optimizer::Sgd { lr: get("lr")?, momentum: get("momentum")? }),
        "adam" => Some(Optimizer::Adam {
            lr: get("lr")?,
            beta1: get("beta1")?,
            beta2: get("beta2")?,
            eps: get("eps")?,
        }),
        _ => None,
    }
}

/// Saves a training checkpoint: the optimizer state (tensors "first" and "second", and the
/// parameters again as "parameters"; metadata `metadata` plus "updates") to
/// `optimizer_path(path)`, then the model to `path` with `metadata`. Each file is written
/// atomically, the optimizer's first, so a crash between the two leaves a model file one epoch
/// older than a whole optimizer file: `load_training` resumes from the latter.
pub fn save_training(
    path: &Path,
    params: &Parameters,
    state: &OptimizerState,
    metadata: HashMap<String, String>,
) -> Result<()> {
    check_finite(path, params)?;
    let optim = optimizer_path(path);
    let serialized = optimizer_to_bytes(params, state, metadata.clone())
        .map_err(|e| Error::bad_data(&optim, format!("cannot serialize optimizer state: {e}")))?;
    write_atomically(&optim, &serialized)?;
    save(path, params, metadata)
}

/// The optimizer file's bytes as `save_training` writes them.
pub fn optimizer_to_bytes(
    params: &Parameters,
    state: &OptimizerState,
    mut metadata: HashMap<String, String>,
) -> Result<Vec<u8>> {
    if state.first.len() != params.values.len() || state.second.len() != params.values.len() {
        return Err(Error::InvalidArgument("the optimizer state does not match the parameters".into()));
    }
    let bytes = |values: &[f32]| values.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let (first, second, values) = (bytes(&state.first), bytes(&state.second), bytes(&params.values));
    let shape = vec![state.first.len()];
    let tensors = [("first", &first), ("second", &second), ("parameters", &values)].map(|(name, b)| {
        (name.to_string(), TensorView::new(Dtype::F32, shape.clone(), b).expect("view length matches"))
    });
    metadata.insert("updates".into(), state.step.to_string());
    safetensors::serialize(tensors, Some(metadata)).map_err(|e| Error::InvalidArgument(e.to_string()))
}

/// A training run as `save_training` left it, ready to resume.
#[derive(Clone, Debug)]
pub struct TrainingState {
    pub params: Parameters,
    pub optimizer: OptimizerState,
    /// The metadata of the file the parameters came from ("epoch" among it).
    pub metadata: HashMap<String, String>,
    /// The save of the next epoch was interrupted between the two files: the parameters and
    /// metadata come from the (newer, whole) optimizer file, not from the model file.
    pub recovered: bool,
}

/// Reads the training run saved at `model` (and beside it) for `plan`: the model file's
/// parameters with the optimizer file's state, both of the same epoch; or, when a save was
/// interrupted between the two files, everything from the optimizer file, one epoch ahead.
pub fn load_training(model: &Path, plan: &Plan) -> Result<TrainingState> {
    let model_metadata = read_metadata(model)?;
    let path = optimizer_path(model);
    let bytes = match read_optimizer_file(&path) {
        // Given the optimizer file itself, say so rather than look for one beside it.
        Err(_) if holds_optimizer_state(model) => {
            return Err(Error::bad_data(model, optimizer_file_given(model)));
        }
        other => other?,
    };
    let optim_metadata = metadata_of(&path, &bytes)?;
    let epoch = |m: &HashMap<String, String>| m.get("epoch").and_then(|e| e.parse::<u64>().ok());
    check_same_run(model, &model_metadata, &path, &optim_metadata)?;
    let ahead = matches!((epoch(&model_metadata), epoch(&optim_metadata)), (Some(m), Some(o)) if o == m + 1);
    if !ahead {
        let (optimizer, _) = parse_optimizer(&bytes, &path, &model_metadata, plan.parameter_count)?;
        let (params, metadata) = load(model, plan)?;
        return Ok(TrainingState { params, optimizer, metadata, recovered: false });
    }
    let (optimizer, metadata) = parse_optimizer(&bytes, &path, &optim_metadata, plan.parameter_count)?;
    let file = SafeTensors::deserialize(&bytes)
        .map_err(|e| Error::bad_data(&path, format!("corrupt optimizer state ({e})")))?;
    let values = read_vector(&file, "parameters", plan.parameter_count, &path).map_err(|e| {
        Error::bad_data(
            &path,
            format!("it is an epoch ahead of {} but cannot stand in for it: {e}", model.display()),
        )
    })?;
    let mut params = Parameters::zeros(plan);
    params.values = values;
    Ok(TrainingState { params, optimizer, metadata, recovered: true })
}

/// Refuses a model file and an optimizer file that different runs saved (two runs saving to the
/// same path, each file written whole): their run ids differ. Files saved before runs had ids
/// have none, and pass when neither has one.
pub fn check_same_run(
    model: &Path,
    model_metadata: &HashMap<String, String>,
    optim: &Path,
    optim_metadata: &HashMap<String, String>,
) -> Result<()> {
    let key = RUN_ID;
    if model_metadata.get(key) == optim_metadata.get(key) {
        return Ok(());
    }
    let describe = |m: &HashMap<String, String>| {
        let epoch = m.get("epoch").map_or("?", |e| e.as_str());
        match m.get(key) {
            Some(id) => format!("epoch {epoch} of run {id}"),
            None => format!("epoch {epoch} of a run without an id"),
        }
    };
    Err(Error::CannotResume {
        path: model.to_path_buf(),
        problem: ResumeProblem::OtherRuns {
            optimizer: optim.to_path_buf(),
            model_run: describe(model_metadata),
            optimizer_run: describe(optim_metadata),
        },
    })
}

/// The optimizer file's bytes, with advice when it is missing.
fn read_optimizer_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::bad_data_remedy(path, "not found", Remedy::OptimizerFile),
        _ => Error::io(path, e),
    })
}

/// The one-dimensional f32 tensor `name` of `len` values.
fn read_vector(file: &SafeTensors, name: &str, len: usize, path: &Path) -> Result<Vec<f32>> {
    let bad = |problem: String| Error::bad_data(path, problem);
    let tensor = file.tensor(name).map_err(|_| bad(format!("tensor {name} is missing")))?;
    if tensor.dtype() != Dtype::F32 || tensor.shape() != [len] {
        return Err(bad(format!(
            "tensor {name} is {:?} {:?}, expected F32 [{len}]",
            tensor.dtype(),
            tensor.shape()
        )));
    }
    Ok(tensor.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

/// Reads the optimizer state saved beside the model checkpoint `model` (whose metadata is
/// `model_metadata`) for `parameter_count` parameters. Its "epoch" must match the model's.
/// Returns the state and the optimizer file's metadata.
pub fn load_optimizer(
    model: &Path,
    model_metadata: &HashMap<String, String>,
    parameter_count: usize,
) -> Result<(OptimizerState, HashMap<String, String>)> {
    let path = optimizer_path(model);
    let bytes = read_optimizer_file(&path)?;
    parse_optimizer(&bytes, &path, model_metadata, parameter_count)
}

/// `load_optimizer` on the optimizer file's bytes (`path` names it in messages).
pub fn parse_optimizer(
    bytes: &[u8],
    path: &Path,
    model_metadata: &HashMap<String, String>,
    parameter_count: usize,
) -> Result<(OptimizerState, HashMap<String, String>)> {
    let bad = |problem: String| Error::bad_data(path, problem);
    let metadata = metadata_of(path, bytes)?;
    if metadata.get("epoch") != model_metadata.get("epoch") {
        return Err(bad(format!(
            "its epoch ({}) is not the model's ({}): the two files are from different runs or a save was interrupted",
            metadata.get("epoch").map_or("none", |s| s.as_str()),
            model_metadata.get("epoch").map_or("none", |s| s.as_str())
        )));
    }
    let step = metadata
        .get("updates")
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| bad("its \"updates\" metadata is missing or unreadable".into()))?;
    let file = SafeTensors::deserialize(bytes).map_err(|e| bad(format!("corrupt optimizer state ({e})")))?;
    let first = read_vector(&file, "first", parameter_count, path)?;
    let second = read_vector(&file, "second", parameter_count, path)?;
    Ok((OptimizerState { first, second, step }, metadata))
}

/// Reads a checkpoint for `plan`: every tensor the plan needs must be there, as f32, with
/// exactly the plan's shape. Returns the parameters and the checkpoint's metadata.
pub fn load(path: &Path, plan: &Plan) -> Result<(Parameters, HashMap<String, String>)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse(&bytes, path, plan)
}

/// `load` on a checkpoint's bytes (`path` names it in messages). Every tensor is checked
/// before anything is allocated, so a file claiming a huge network costs nothing.
pub fn parse(bytes: &[u8], path: &Path, plan: &Plan) -> Result<(Parameters, HashMap<String, String>)> {
    let bad = |problem: String| Error::bad_data(path, problem);
    let metadata = metadata_of(path, bytes)?;
    let file = SafeTensors::deserialize(bytes).map_err(|e| bad(format!("corrupt checkpoint ({e})")))?;
    if ["first", "second", "parameters"].iter().all(|name| file.tensor(name).is_ok()) {
        return Err(bad(optimizer_file_given(path))); // see `holds_optimizer_state`
    }
    let views = crate::model::views(plan);
    let mut tensors = Vec::with_capacity(views.len());
    for v in &views {
        let tensor = file.tensor(&v.name).map_err(|_| {
            bad(format!("tensor {} is missing (the checkpoint has: {})", v.name, sorted_names(&file)))
        })?;
        let expected = if v.count { Dtype::I64 } else { Dtype::F32 };
        if tensor.dtype() != expected {
            return Err(bad(format!("tensor {} is {:?}, expected {expected:?}", v.name, tensor.dtype())));
        }
        if tensor.shape() != v.shape.as_slice() {
            return Err(bad(format!(
                "tensor {} has shape {:?}, but this network needs {:?} (a checkpoint of another architecture?)",
                v.name,
                tensor.shape(),
                v.shape
            )));
        }
        tensors.push(tensor);
    }
    let mut params = Parameters::zeros(plan);
    for (v, tensor) in views.iter().zip(&tensors) {
        let dst = &mut params.values[v.offset..v.offset + v.len];
        if v.count {
            for (d, chunk) in dst.iter_mut().zip(tensor.data().chunks_exact(8)) {
                *d = i64::from_le_bytes(chunk.try_into().expect("8 bytes")) as f32;
            }
            continue;
        }
        for (d, chunk) in dst.iter_mut().zip(tensor.data().chunks_exact(4)) {
            *d = f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }
    }
    Ok((params, metadata))
}

/// The metadata of the checkpoint at `path` (empty when it has none).
pub fn read_metadata(path: &Path) -> Result<HashMap<String, String>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    metadata_of(path, &bytes)
}

/// The network a checkpoint records in its metadata, as `lenet train --save` writes it:
/// "architecture" (the layers, as `Network::layers_string`) and "input" (as `Shape`'s Display;
/// MNIST's 1@28x28 when absent). None when there is no "architecture" (a file written by PyTorch,
/// say).
pub fn recorded_network(path: &Path) -> Result<Option<Network>> {
    network_in(&read_metadata(path)?, path)
}

/// The network checkpoint metadata records (see `recorded_network`); `path` names the file in
/// messages.
pub fn network_in(metadata: &HashMap<String, String>, path: &Path) -> Result<Option<Network>> {
    let Some(architecture) = metadata.get("architecture") else { return Ok(None) };
    let bad = |key: &str, e: Error| {
        let why = match e {
            Error::Network(why) => why,
            other => other.to_string(),
        };
        Error::bad_data(path, format!("its \"{key}\" metadata is unreadable: {why}"))
    };
    let mut network = arch::parse_network(architecture).map_err(|e| bad("architecture", e))?;
    if let Some(input) = metadata.get("input") {
        network.input = arch::parse_shape(input).map_err(|e| bad("input", e))?;
    }
    Ok(Some(network))
}

/// The metadata of a checkpoint's bytes (empty when it has none); `path` names it in messages.
pub fn metadata_of(path: &Path, bytes: &[u8]) -> Result<HashMap<String, String>> {
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| {
        Error::bad_data_remedy(
            path,
            format!("not a safetensors checkpoint ({e})"),
            Remedy::TrainingCheckpoint,
        )
    })?;
    Ok(header.metadata().clone().unwrap_or_default())
}

fn sorted_names(file: &SafeTensors) -> String {
    let mut names = file.names();
    names.sort();
    names.join(", ")
}

/// What to say when the optimizer file beside a model (`optimizer_path`) is given as a model.
fn optimizer_file_given(path: &Path) -> String {
    let name = path.to_string_lossy();
    let model = name.strip_suffix(".optim.safetensors").filter(|m| !m.is_empty());
    let model = model.map_or("the model file beside it".to_string(), |m| format!("the model file, {m}"));
    format!(
        "this is the optimizer state a training run saves beside its model (for resuming), not a model: give {model}"
    )
}

/// Whether the file at `path` is an optimizer file (its tensors "first", "second", "parameters").
fn holds_optimizer_state(path: &Path) -> bool {
    let Ok(bytes) = std::fs::read(path) else { return false };
    SafeTensors::deserialize(&bytes)
        .is_ok_and(|file| ["first", "second", "parameters"].iter().all(|name| file.tensor(name).is_ok()))
}
