//! What `session.rs`'s Python methods share: opening a `Session` (continuing the run of a
//! training checkpoint or a pickle when there is one) and giving it `fit`'s settings.
//!
//! A `Model` starts as a session that runs a model (a seeded initialization, or a checkpoint).
//! `fit` makes it train with its settings (`Session::train_with`): the first time it becomes a
//! training session, continuing the run it was opened with, if any, bit for bit as `lenet train
//! --resume` continues a run, with no file written; later `fit`s change the settings of the same
//! run, its epochs numbered on.

use crate::errors::{detached, to_py, value_error};
use lenet_gpu::model::{Network, arch};
use lenet_gpu::session::{
    DataIdentity, DeviceChoice, Goals, Notices, RunRecord, RunState, SavedModel, Session as Inner,
    TrainConfig,
};
use pyo3::prelude::*;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// The training data's identity in checkpoints made from Python: arrays, not a named collection.
pub const DATASET: &str = "numpy";

#[pyclass(module = "lenet_gpu._native")]
pub struct Session {
    pub inner: Inner,
    pub device: DeviceChoice,
    pub seed: u64,
    pub epochs_done: usize,
    /// The session's notices ("no hardware GPU found: running on the CPU path"), as text, until
    /// the Python layer takes them.
    pub notices: Rc<RefCell<Vec<String>>>,
    /// The current `fit`'s target accuracy and best epoch (`Goals`).
    pub goals: Goals,
}

// SAFETY: what keeps `Session` from being `Send` and `Sync` is its `Rc`s: the notice sink it
// shares with the library session inside it (and, under `auto`, with that session's fallback
// engine). All of them live inside this one object and move with it; none is handed out. Python
// reaches the object one thread at a time: with the GIL (the abi3 wheel targets GIL builds), and
// around `Python::detach` through PyO3's borrow flag (`&mut self` for everything that computes:
// another thread gets "Already borrowed" meanwhile; the `&self` methods that detach, `save` and
// `training_bytes`, read the engine before and touch only their own copies there). The engines
// themselves hold wgpu handles (`Send + Sync` on native targets), `Cell` counters and plain
// buffers.
unsafe impl Send for Session {}
unsafe impl Sync for Session {}

pub fn parse_device(device: &str) -> PyResult<DeviceChoice> {
    device.parse().map_err(|why: String| value_error(format!("device: {why}")))
}

pub fn parse_network(spec: &str) -> PyResult<Network> {
    arch::load_network(spec).map_err(|e| value_error(format!("arch {spec:?}: {e}")))
}

fn sink(notices: &Rc<RefCell<Vec<String>>>) -> Notices {
    let notices = Rc::clone(notices);
    Box::new(move |notice| notices.borrow_mut().push(notice.to_string()))
}

/// What a model file records of a network that has not trained yet: enough to reopen it.
pub fn untrained_metadata(network: &Network, seed: u64) -> HashMap<String, String> {
    let config = TrainConfig { seed, ..Default::default() };
    let record = RunRecord::new(network, &config, &DataIdentity::of(None, 0), 0);
    let keep = ["format", "architecture", "input", "normalization", "epoch", "seed"];
    record.to_metadata().into_iter().filter(|(k, _)| keep.contains(&k.as_str())).collect()
}

impl Session {
    /// An inference session for `model`, continuing `carried` when given; `notices` are told
    /// first (what reading the model found).
    pub fn open(
        py: Python<'_>,
        device: DeviceChoice,
        model: SavedModel,
        carried: Option<RunState>,
        notices: Vec<String>,
    ) -> PyResult<Session> {
        let seed = model.metadata.get("seed").and_then(|s| s.parse().ok()).unwrap_or(1);
        let epochs_done = lenet_gpu::session::record::recorded_epoch(&model.metadata).unwrap_or(0);
        Session::open_at(py, device, model, seed, epochs_done, carried, notices)
    }

    pub fn open_at(
        py: Python<'_>,
        device: DeviceChoice,
        model: SavedModel,
        seed: u64,
        epochs_done: usize,
        carried: Option<RunState>,
        notices: Vec<String>,
    ) -> PyResult<Session> {
        let notices = Rc::new(RefCell::new(notices));
        let notices_for = sink(&notices);
        let inner = detached(py, || {
            match carried {
                Some(state) => Inner::continuing(device, state, notices_for),
                None => Inner::inference(device, model, notices_for),
            }
            .map_err(to_py)
        })?;
        Ok(Session { inner, device, seed, epochs_done, notices, goals: Goals::default() })
    }

    /// The metadata a model file of the current state records.
    pub fn metadata(&self) -> HashMap<String, String> {
        match self.inner.record() {
            Some(record) => record.to_metadata(),
            None => self.inner.metadata().clone(),
        }
    }

    /// Where the run stands: the training session's, else the one carried; None for a model
    /// that has not trained (or whose parameters were replaced).
    pub fn run_state(&self) -> lenet_gpu::Result<Option<RunState>> {
        match self.inner.has_run() {
            true => self.inner.run_state().map(Some),
            false => Ok(None),
        }
    }
}
