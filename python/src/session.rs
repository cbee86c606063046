//! `_native.Session`'s Python methods: one `lenet_gpu::session::Session` and what the Python
//! `Model` adds to it (its device, seed, epoch count and run across training sessions: see
//! `run.rs`). Every computation runs with the GIL released and panics caught
//! (`errors::detached`).

use crate::arrays::{Data, array};
use crate::errors::{detached, interruptible, to_py, value_error};
use crate::run::{DATASET, Session, parse_device, parse_network, untrained_metadata};
use crate::settings;
use crate::support::PyObserver;
use lenet_gpu::checkpoint;
use lenet_gpu::data::Dataset;
use lenet_gpu::model::fusion::layer_label;
use lenet_gpu::model::{Parameters, arch};
use lenet_gpu::session::{
    DataIdentity, GivenSettings, Goals, Judged, Judgement, RunState, SavedModel, TrainConfig,
};
use numpy::{PyArrayDyn, PyReadonlyArrayDyn};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use std::path::{Path, PathBuf};

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
        Session::open_at(py, device, SavedModel { network, params, metadata }, seed, 0, None, Vec::new())
    }

    /// A model from checkpoint bytes (`name` names them in messages) and, for a model that has
    /// trained, the optimizer file's bytes (`training_bytes`), to continue its run.
    #[staticmethod]
    #[pyo3(signature = (data, device, name, optimizer=None))]
    fn from_bytes(
        py: Python<'_>,
        data: &[u8],
        device: &str,
        name: &str,
        optimizer: Option<&[u8]>,
    ) -> PyResult<Session> {
        let device = parse_device(device)?;
        let name = Path::new(name);
        let (model, carried) = detached(py, || {
            Ok(match optimizer {
                Some(optimizer) => {
                    let state = RunState::from_bytes(data, optimizer, name).map_err(to_py)?;
                    (state.model(), Some(state))
                }
                None => (SavedModel::from_bytes(data, name, None).map_err(to_py)?, None),
            })
        })?;
        Session::open(py, device, model, carried, Vec::new())
    }

    /// The model saved at `path` and, when the optimizer file `lenet train --save` (or `save`)
    /// writes is beside it, its run, continued by the next `fit`. An optimizer file that cannot
    /// be read (another run's, damaged) leaves a notice and a model with a fresh optimizer.
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf, device: &str) -> PyResult<Session> {
        let device = parse_device(device)?;
        let mut notices = Vec::new();
        let (model, carried) = detached(py, || {
            if checkpoint::optimizer_path(&path).exists() {
                let mut notice = |n: lenet_gpu::session::Notice| notices.push(n.to_string());
                match RunState::read(&path, &mut notice) {
                    Ok(state) => return Ok((state.model(), Some(state))),
                    Err(e) => notices.push(format!(
                        "{e}; loading the model alone (a later fit starts its optimizer state afresh)"
                    )),
                }
            }
            Ok((SavedModel::read(&path, None).map_err(to_py)?, None))
        })?;
        // A model file that cannot be read says so itself: no notice about its optimizer file.
        Session::open(py, device, model, carried, notices)
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

    /// The settings a `fit` keeps when not told (batch size, optimizer, rate, momentum,
    /// augmentation, schedule, warmup, weight decay): the ones the model's run records, else the
    /// library's defaults, decided as `lenet train --resume` decides them
    /// (`GivenSettings::complete`).
    #[getter]
    fn fit_settings<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let metadata = self.metadata();
        let settings = GivenSettings::default().complete(Some((&metadata, Path::new("<model>"))));
        settings::to_dict(py, &settings.config())
    }

    /// The images the network takes: (channels, height, width), (1, 28, 28) for LeNet-5.
    #[getter]
    fn input_shape(&self) -> (usize, usize, usize) {
        let input = self.inner.network().input;
        (input.channels, input.height, input.width)
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
        self.inner.plan().trained_count()
    }

    /// The notices since the last call, as text.
    fn take_notices(&self) -> Vec<String> {
        std::mem::take(&mut *self.notices.borrow_mut())
    }

    /// Trains one epoch on `data` with `settings` (as `settings::complete` decides them), in a
    /// run of `total_epochs` (what schedules are drawn over); returns the epoch's figures and the
    /// exception to raise after it, if any (an error of `progress` during the epoch: the epoch
    /// still completes). A Ctrl-C stops the epoch soon after, raising KeyboardInterrupt; the
    /// model keeps every step done. `progress(images, loss_sum, correct)` is called about ten
    /// times a second; `validation` training images are held out.
    #[pyo3(signature = (data, settings, total_epochs, progress, validation=0))]
    fn train_epoch<'py>(
        &mut self,
        py: Python<'py>,
        data: PyRef<'py, Data>,
        settings: &Bound<'py, PyDict>,
        total_epochs: usize,
        progress: Option<Py<PyAny>>,
        validation: usize,
    ) -> PyResult<(Bound<'py, PyDict>, Option<Py<PyAny>>)> {
        let config = TrainConfig {
            epochs: total_epochs.max(self.epochs_done + 1),
            seed: self.seed,
            validation,
            ..settings::given(settings)?.complete(None).config()
        };
        let split = &data.split;
        let mut observer = PyObserver { callback: progress, last: None, pending: None };
        // Giving the session its settings (the first time, opening a training engine and its
        // pipelines) is one piece of work, the epoch another.
        let identity = DataIdentity { dataset: DATASET.into(), train_examples: split.train.len() };
        let (opened, signal) = interruptible(py, &self.inner.interrupt(), || {
            self.inner.train_with(config, identity).map_err(to_py)
        });
        signal.map_or(opened, Err)?;
        let (report, signal) =
            interruptible(py, &self.inner.interrupt(), || Ok(self.inner.train_epoch(split, &mut observer)));
        self.epochs_done = self.inner.epochs_done().max(self.epochs_done);
        let report = match (report?, signal) {
            // Stopped mid-epoch by a Ctrl-C: raise it now; the model keeps every completed step.
            (Err(lenet_gpu::Error::Interrupted { .. }), Some(signal)) => return Err(signal),
            (report, signal) => {
                // A Ctrl-C after the last step: raised after the epoch, which counts.
                observer.pending = signal.or(observer.pending);
                report.map_err(to_py)?
            }
        };
        let out = PyDict::new(py);
        out.set_item("epoch", report.epoch)?;
        out.set_item("loss", report.train_loss)?;
        out.set_item("accuracy", report.train_accuracy)?;
        out.set_item("seconds", report.seconds)?;
        out.set_item("images_per_second", report.images_per_second)?;
        if let Some(held) = report.validation {
            out.set_item("val_loss", held.loss)?;
            out.set_item("val_accuracy", held.accuracy)?;
        }
        Ok((out, observer.pending.map(|e| e.into_value(py).into_any())))
    }

    /// Starts a `fit`'s goals: stop after the first epoch whose validation accuracy reaches
    /// `target` (a fraction), and, with `keep_best`, keep the best epoch's parameters.
    #[pyo3(signature = (target=None, keep_best=false))]
    fn start_goals(&mut self, target: Option<f64>, keep_best: bool) {
        self.goals = Goals::new(target, keep_best);
    }

    /// After epoch `epoch`, judged by its validation `accuracy`: (whether it is the best so
    /// far, whether it reached the target).
    fn consider(&mut self, py: Python<'_>, epoch: usize, accuracy: f64) -> PyResult<(bool, bool)> {
        let judgement = Judgement { epoch, accuracy, judged: Judged::Validation };
        let (goals, inner) = (&mut self.goals, &self.inner);
        let verdict = detached(py, || goals.consider(inner, judgement).map_err(to_py))?;
        Ok((verdict.best, verdict.reached))
    }

    /// Puts the best epoch's parameters back (kept by `start_goals(keep_best=True)`); the epoch
    /// and its accuracy, or None when none was kept.
    fn restore_best(&mut self, py: Python<'_>) -> PyResult<Option<(usize, f64)>> {
        let (Some(best), Some(params)) = (self.goals.best(), self.goals.best_parameters().cloned()) else {
            return Ok(None);
        };
        let inner = &mut self.inner;
        detached(py, || inner.set_parameters(&params).map_err(to_py))?;
        Ok(Some((best.epoch, best.accuracy)))
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
        let (top, signal) = interruptible(py, &self.inner.interrupt(), || {
            self.inner.predict_top(images, classes).map_err(to_py)
        });
        let top = signal.map_or(top, Err)?;
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
        let (result, signal) = interruptible(py, &self.inner.interrupt(), || {
            self.inner.evaluate_with_logits(set).map_err(to_py)
        });
        let (evaluation, loss, _) = signal.map_or(result, Err)?;
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
        *self = Session::open_at(py, self.device, model, self.seed, self.epochs_done, None, Vec::new())?;
        Ok(())
    }

    /// The model as safetensors bytes (what `save` writes).
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let bytes =
            checkpoint::to_bytes(&self.inner.parameters().map_err(to_py)?, self.metadata()).map_err(to_py)?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// The model's checkpoint bytes and, once it has trained, its optimizer file's bytes (what
    /// `save` writes beside it), for a pickle that continues the run exactly.
    fn training_bytes<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyBytes>, Option<Bound<'py, PyBytes>>)> {
        // The engine is read with the GIL held (see `Session`'s `Send` note); only copies leave.
        let (model, optimizer) = match self.run_state().map_err(to_py)? {
            Some(state) => detached(py, || state.to_bytes().map(|(m, o)| (m, Some(o))).map_err(to_py))?,
            None => {
                let params = self.inner.parameters().map_err(to_py)?;
                (checkpoint::to_bytes(&params, self.metadata()).map_err(to_py)?, None)
            }
        };
        Ok((PyBytes::new(py, &model), optimizer.map(|o| PyBytes::new(py, &o))))
    }

    /// Saves the model (safetensors, PyTorch's names), atomically, and once it has trained its
    /// optimizer state beside it, as `lenet train --save` does.
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        match self.run_state().map_err(to_py)? {
            Some(state) => detached(py, || state.save(&path).map_err(to_py)),
            None => {
                let params = self.inner.parameters().map_err(to_py)?;
                let metadata = self.metadata();
                detached(py, || checkpoint::save(&path, &params, metadata).map_err(to_py))
            }
        }
    }
}
