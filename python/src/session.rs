//! `_native.Session`: one `lenet_gpu::session::Session` and what the Python `Model` adds to it
//! (its device, seed and epoch count across training sessions). Every computation runs with the
//! GIL released and panics caught (`errors::detached`).
//!
//! A `Model` starts as an inference session (a seeded initialization, or a checkpoint). `fit`
//! needs a training session with its batch size, optimizer and data size: the current one when
//! those match (so a second `fit` continues the same run, its epochs numbered on), else a new one
//! resumed from the current parameters (and optimizer state, for the same optimizer), the way
//! `lenet train --resume` continues a run, bit for bit.

use crate::arrays::{Data, array};
use crate::errors::{detached, to_py, value_error};
use crate::support::{PyObserver, TempDir, loss_and_predictions};
use lenet_gpu::checkpoint;
use lenet_gpu::data::Dataset;
use lenet_gpu::gpu::DeviceChoice;
use lenet_gpu::model::fusion::layer_label;
use lenet_gpu::model::optimizer::OptimizerState;
use lenet_gpu::model::{Network, Parameters, arch};
use lenet_gpu::session::record::recorded_epoch;
use lenet_gpu::session::{
    DataIdentity, Notices, OptimizerKind, RunRecord, SavedModel, Session as Inner, TrainSpec,
};
use lenet_gpu::train::{Evaluation, TrainConfig};
use numpy::{PyArrayDyn, PyReadonlyArrayDyn};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// The training data's identity in checkpoints made from Python: arrays, not a named collection.
const DATASET: &str = "numpy";

#[pyclass(module = "lenet_gpu._native")]
pub struct Session {
    inner: Inner,
    device: DeviceChoice,
    seed: u64,
    epochs_done: usize,
    /// The session's notices ("no hardware GPU found: running on the CPU path"), as text, until
    /// the Python layer takes them.
    notices: Rc<RefCell<Vec<String>>>,
}

// SAFETY: what keeps `Session` from being `Send` and `Sync` is its `Rc`s: the notice sink it
// shares with the library session inside it (and, under `auto`, with that session's fallback
// engine). All of them live inside this one object and move with it; none is handed out. Python
// reaches the object one thread at a time: with the GIL (the abi3 wheel targets GIL builds), and
// around `Python::detach` through PyO3's borrow flag (`&mut self` for everything that computes:
// another thread gets "Already borrowed" meanwhile; the one `&self` method that detaches, `save`,
// touches only its own copies there). The engines themselves hold wgpu handles (`Send + Sync` on
// native targets), `Cell` counters and plain buffers.
unsafe impl Send for Session {}
unsafe impl Sync for Session {}

fn parse_device(device: &str) -> PyResult<DeviceChoice> {
    device.parse().map_err(|why: String| value_error(format!("device: {why}")))
}

fn parse_network(spec: &str) -> PyResult<Network> {
    arch::load_network(spec).map_err(|e| value_error(format!("arch {spec:?}: {e}")))
}

fn sink(notices: &Rc<RefCell<Vec<String>>>) -> Notices {
    let notices = Rc::clone(notices);
    Box::new(move |notice| notices.borrow_mut().push(notice.to_string()))
}

/// What a model file records of a network that has not trained yet: enough to reopen it.
fn untrained_metadata(network: &Network, seed: u64) -> HashMap<String, String> {
    let config = TrainConfig {
        epochs: 1,
        batch_size: 64,
        optimizer: OptimizerKind::Sgd.with(None, 0.9),
        seed,
        ..Default::default()
    };
    let record = RunRecord::new(network, &config, &DataIdentity::of(None, 0), 0);
    let keep = ["format", "architecture", "input", "normalization", "epoch", "seed"];
    record.to_metadata().into_iter().filter(|(k, _)| keep.contains(&k.as_str())).collect()
}

impl Session {
    fn open(
        py: Python<'_>,
        device: DeviceChoice,
        model: SavedModel,
        seed: u64,
        epochs_done: usize,
    ) -> PyResult<Session> {
        let notices = Rc::new(RefCell::new(Vec::new()));
        let notices_for = sink(&notices);
        let inner = detached(py, || Inner::inference(device, model, notices_for).map_err(to_py))?;
        Ok(Session { inner, device, seed, epochs_done, notices })
    }

    /// The metadata a model file of the current state records.
    fn metadata(&self) -> HashMap<String, String> {
        match self.inner.record() {
            Some(record) => record.to_metadata(),
            None => self.inner.metadata().clone(),
        }
    }

    /// Makes the session a training session for `config` on `train_examples` examples (see the
    /// module's comment).
    fn ensure_training(&mut self, config: &TrainConfig, train_examples: usize) -> lenet_gpu::Result<()> {
        let data = DataIdentity { dataset: DATASET.into(), train_examples };
        if let (Some(current), Some(record)) = (self.inner.config(), self.inner.record())
            && current.batch_size == config.batch_size
            && current.optimizer == config.optimizer
            && current.seed == config.seed
            && record.data == data
        {
            return Ok(());
        }
        let params = self.inner.parameters()?;
        let same_optimizer = self.inner.config().is_some_and(|c| {
            std::mem::discriminant(&c.optimizer) == std::mem::discriminant(&config.optimizer)
        });
        let state = match same_optimizer {
            true => self.inner.engine().optimizer_state()?,
            false => OptimizerState::new(params.values.len()),
        };
        // The run so far, saved as `lenet train --save` would, and resumed from there.
        let config = TrainConfig { epochs: self.epochs_done + 1, ..config.clone() };
        let dir = TempDir::new()?;
        let path = dir.0.join("model.safetensors");
        let record = RunRecord::new(self.inner.network(), &config, &data, self.epochs_done);
        checkpoint::save_training(&path, &params, &state, record.to_metadata())?;
        let spec = TrainSpec {
            device: self.device,
            network: self.inner.network().clone(),
            config,
            data,
            save_to: None,
            resume_from: Some(path),
        };
        self.inner = Inner::train(spec, sink(&self.notices))?;
        Ok(())
    }
}

#[pymethods]
impl Session {
    /// A network (`arch`: a name, a layer list or a file holding one) initialized from `seed`.
    #[staticmethod]
    fn create(py: Python<'_>, arch: &str, device: &str, seed: u64) -> PyResult<Session> {
        let network = parse_network(arch)?;
        let device = parse_device(device)?;
        let plan = arch::plan_for_mnist(&network).map_err(|e| value_error(format!("arch {arch:?}: {e}")))?;
        let params = Parameters::init(&plan, seed);
        let metadata = untrained_metadata(&network, seed);
        Session::open(py, device, SavedModel { network, params, metadata }, seed, 0)
    }

    /// A model from checkpoint bytes (`name` names them in messages).
    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: &[u8], device: &str, name: &str) -> PyResult<Session> {
        let device = parse_device(device)?;
        let model = SavedModel::from_bytes(data, Path::new(name), None).map_err(to_py)?;
        let seed = model.metadata.get("seed").and_then(|s| s.parse().ok()).unwrap_or(1);
        let epochs_done = recorded_epoch(&model.metadata).unwrap_or(0);
        Session::open(py, device, model, seed, epochs_done)
    }

    #[getter]
    fn device_name(&self) -> String {
        self.inner.device_name()
    }

    /// The layers, e.g. "conv6k5p2,relu,maxpool2,...".
    #[getter]
    fn arch(&self) -> String {
        self.inner.network().layers_string()
    }

    /// The network's name ("lenet5", "lenet5-1998"), if it has one.
    #[getter]
    fn arch_name(&self) -> Option<&'static str> {
        arch::name_of(self.inner.network())
    }

    #[getter]
    fn epochs_done(&self) -> usize {
        self.epochs_done
    }

    #[getter]
    fn seed(&self) -> u64 {
        self.seed
    }

    #[getter]
    fn parameter_count(&self) -> usize {
        self.inner.plan().parameter_count
    }

    /// The notices since the last call, as text.
    fn take_notices(&self) -> Vec<String> {
        std::mem::take(&mut *self.notices.borrow_mut())
    }

    /// Trains one epoch on `data`; returns the epoch's figures and the exception to raise after
    /// it, if any (an error of `progress` during the epoch: the epoch still completes). A Ctrl-C
    /// stops the epoch soon after, raising KeyboardInterrupt; the model keeps every step done. `progress(images, loss_sum,
    /// correct)` is called about ten times a second.
    #[allow(clippy::too_many_arguments)]
    fn train_epoch<'py>(
        &mut self,
        py: Python<'py>,
        data: PyRef<'py, Data>,
        batch_size: usize,
        optimizer: &str,
        lr: Option<f32>,
        momentum: f32,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<(Bound<'py, PyDict>, Option<Py<PyAny>>)> {
        let kind = match optimizer {
            "sgd" => OptimizerKind::Sgd,
            "adam" => OptimizerKind::Adam,
            other => {
                return Err(value_error(format!("optimizer must be \"sgd\" or \"adam\", got {other:?}")));
            }
        };
        let config = TrainConfig {
            epochs: self.epochs_done + 1,
            batch_size,
            optimizer: kind.with(lr, momentum),
            seed: self.seed,
            ..Default::default()
        };
        config.validate().map_err(to_py)?;
        let split = &data.split;
        let mut observer = PyObserver { callback: progress, last: None, pending: None, interrupt: None };
        let report = detached(py, || {
            self.ensure_training(&config, split.train.len()).map_err(to_py)?;
            let interrupt = self.inner.interrupt();
            interrupt.clear();
            observer.interrupt = Some(interrupt);
            Ok(self.inner.train_epoch(split, &mut observer))
        });
        self.epochs_done = self.inner.epochs_done().max(self.epochs_done);
        let report = match report? {
            // Stopped mid-epoch by a Ctrl-C: raise it now; the model keeps every completed step.
            Err(lenet_gpu::Error::Interrupted { .. }) if observer.pending.is_some() => {
                return Err(observer.pending.take().expect("a pending interrupt"));
            }
            other => other.map_err(to_py)?,
        };
        let out = PyDict::new(py);
        out.set_item("epoch", report.epoch)?;
        out.set_item("loss", report.train_loss)?;
        out.set_item("accuracy", report.train_accuracy)?;
        out.set_item("seconds", report.seconds)?;
        out.set_item("images_per_second", report.images_per_second)?;
        Ok((out, observer.pending.map(|e| e.into_value(py).into_any())))
    }

    /// Softmax probabilities, [N, classes].
    fn probabilities<'py>(
        &mut self,
        py: Python<'py>,
        data: PyRef<'py, Data>,
    ) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
        let images = &data.split.train;
        let classes = self.inner.plan().classes();
        if images.is_empty() {
            return array(py, &[0, classes], Vec::new());
        }
        let top = detached(py, || self.inner.predict_top(images, classes).map_err(to_py))?;
        let mut out = vec![0.0f32; images.len() * classes];
        for (row, ranked) in out.chunks_exact_mut(classes).zip(top) {
            for (class, p) in ranked {
                row[class] = p as f32;
            }
        }
        array(py, &[images.len(), classes], out)
    }

    /// (accuracy, mean cross-entropy loss, confusion [classes, classes]: rows actual, columns
    /// predicted), from one pass of the network over `data`.
    fn evaluate<'py>(
        &mut self,
        py: Python<'py>,
        data: PyRef<'py, Data>,
    ) -> PyResult<(f64, f64, Bound<'py, PyArrayDyn<u64>>)> {
        let set = &data.split.train;
        let classes = self.inner.plan().classes();
        let logits = detached(py, || self.inner.engine().logits(set).map_err(to_py))?;
        let (loss, predictions) = loss_and_predictions(&logits, &set.labels, classes);
        let evaluation = Evaluation::from_predictions(&set.labels, &predictions, classes);
        let confusion = array(py, &[classes, classes], evaluation.confusion.clone())?;
        Ok((evaluation.accuracy(), loss, confusion))
    }

    /// Every layer output the engine keeps for the images of `data`: [(name, [N, C, H, W] or
    /// [N, features])].
    fn activations<'py>(
        &mut self,
        py: Python<'py>,
        data: PyRef<'py, Data>,
    ) -> PyResult<Vec<(String, Bound<'py, PyArrayDyn<f32>>)>> {
        let images: &Dataset = &data.split.train;
        let outputs = detached(py, || self.inner.activations(images).map_err(to_py))?;
        let plan = self.inner.plan();
        outputs
            .into_iter()
            .map(|o| {
                let s = plan.layers[o.layer].output;
                let shape = match (s.height, s.width) {
                    (1, 1) => vec![images.len(), s.channels],
                    _ => vec![images.len(), s.channels, s.height, s.width],
                };
                Ok((layer_label(plan, o.layer), array(py, &shape, o.values)?))
            })
            .collect()
    }

    /// The parameters as [(PyTorch name, array of PyTorch's shape)], in state_dict order.
    fn state<'py>(&self, py: Python<'py>) -> PyResult<Vec<(String, Bound<'py, PyArrayDyn<f32>>)>> {
        let params = self.inner.parameters().map_err(to_py)?;
        params
            .views
            .iter()
            .map(|v| {
                Ok((v.name.clone(), array(py, &v.shape, params.values[v.offset..v.offset + v.len].to_vec())?))
            })
            .collect()
    }

    /// [(name, shape)] of the parameters, in state_dict order.
    fn state_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let views = lenet_gpu::model::Parameters::zeros(self.inner.plan()).views;
        views.into_iter().map(|v| (v.name, v.shape)).collect()
    }

    /// Replaces every parameter (the Python layer has checked names and shapes). The optimizer
    /// state starts afresh; the epoch count is kept.
    fn load_state(
        &mut self,
        py: Python<'_>,
        tensors: Vec<(String, PyReadonlyArrayDyn<'_, f32>)>,
    ) -> PyResult<()> {
        let mut params = Parameters::zeros(self.inner.plan());
        for (name, values) in &tensors {
            let view = params.views.iter().find(|v| v.name == *name).cloned();
            let view = view.ok_or_else(|| value_error(format!("the network has no parameter {name:?}")))?;
            let values = values.as_array();
            if values.shape() != view.shape.as_slice() {
                return Err(value_error(format!(
                    "{name} has shape {:?}, but the network's is {:?}",
                    values.shape(),
                    view.shape
                )));
            }
            for (dst, src) in params.values[view.offset..view.offset + view.len].iter_mut().zip(values.iter())
            {
                *dst = *src;
            }
        }
        let model = SavedModel { network: self.inner.network().clone(), params, metadata: self.metadata() };
        *self = Session::open(py, self.device, model, self.seed, self.epochs_done)?;
        Ok(())
    }

    /// The model as safetensors bytes (what `save` writes).
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let bytes =
            checkpoint::to_bytes(&self.inner.parameters().map_err(to_py)?, self.metadata()).map_err(to_py)?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// Saves the model (safetensors, PyTorch's names), atomically.
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let params = self.inner.parameters().map_err(to_py)?;
        let metadata = self.metadata();
        detached(py, || checkpoint::save(&path, &params, metadata).map_err(to_py))
    }
}
