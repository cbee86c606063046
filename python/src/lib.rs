//! `lenet_gpu._native`: the Rust half of the `lenet_gpu` Python module, a thin layer over
//! `lenet_gpu::session`. The Python half (`python/lenet_gpu/__init__.py`) checks arguments,
//! converts arrays, shows progress and keeps the history; this half runs the library with the
//! GIL released and turns its typed errors into Python exceptions.

mod arrays;
mod errors;
mod run;
mod session;
mod settings;
mod support;

use arrays::{Data, array, rows};
use errors::{detached, to_py, value_error};
use lenet_gpu::convolve::{Kernel, Plane};
use lenet_gpu::data::mnist::DatasetChoice;
use lenet_gpu::data::{Dataset, preprocess, synthetic};
use lenet_gpu::model::arch;
use lenet_gpu::session::{DataRequest, load_data};
use lenet_gpu::session::{DeviceChoice, Gpu, list_adapters};
use numpy::{PyArrayDyn, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;

/// A uint8 NumPy array.
type Bytes<'py> = Bound<'py, PyArrayDyn<u8>>;
type Arrays<'py> = (Bytes<'py>, Bytes<'py>);

/// A data set's images ([N, H, W] gray, [N, C, H, W] colour: each channel a plane) and labels.
fn arrays_of<'py>(py: Python<'py>, set: Dataset) -> PyResult<Arrays<'py>> {
    let n = set.len();
    let shape = match set.channels {
        1 => vec![n, set.rows, set.cols],
        c => vec![n, c, set.rows, set.cols],
    };
    Ok((array(py, &shape, set.images)?, array(py, &[n], set.labels)?))
}

/// A collection's training and test sets from `dir` (else its default directory), downloaded
/// there first when missing and `download` is true, checked as the command line checks them.
fn load_collection<'py>(
    py: Python<'py>,
    choice: DatasetChoice,
    input: lenet_gpu::model::Shape,
    dir: Option<PathBuf>,
    download: bool,
) -> PyResult<(Bytes<'py>, Bytes<'py>, Bytes<'py>, Bytes<'py>)> {
    let request = DataRequest {
        choice,
        data_dir: dir,
        seed: 1,
        download,
        limit_train: None,
        limit_test: None,
        download_progress: false,
        test_only: false,
    };
    let loaded = detached(py, || load_data(&request, input).map_err(to_py))?;
    let (x_train, y_train) = arrays_of(py, loaded.split.train)?;
    let (x_test, y_test) = arrays_of(py, loaded.split.test)?;
    Ok((x_train, y_train, x_test, y_test))
}

/// MNIST's four files from `dir` (default: `LENET_DATA_DIR`, else ./data/mnist), downloaded
/// there first when missing and `download` is true, checked as the command line checks them.
#[pyfunction]
#[pyo3(signature = (dir=None, download=true))]
fn load_mnist<'py>(
    py: Python<'py>,
    dir: Option<PathBuf>,
    download: bool,
) -> PyResult<(Bytes<'py>, Bytes<'py>, Bytes<'py>, Bytes<'py>)> {
    load_collection(py, DatasetChoice::Mnist, arch::DEFAULT_INPUT, dir, download)
}

/// CIFAR-10's six files from `dir` (default: `LENET_CIFAR10_DIR`, else ./data/cifar10),
/// downloaded there first when missing and `download` is true: images [N, 3, 32, 32].
#[pyfunction]
#[pyo3(signature = (dir=None, download=true))]
fn load_cifar10<'py>(
    py: Python<'py>,
    dir: Option<PathBuf>,
    download: bool,
) -> PyResult<(Bytes<'py>, Bytes<'py>, Bytes<'py>, Bytes<'py>)> {
    load_collection(py, DatasetChoice::Cifar10, arch::CIFAR10_INPUT, dir, download)
}

/// `n` MNIST-shaped digits drawn from `seed` (those `lenet train --dataset synthetic` trains on
/// first, with the same seed).
#[pyfunction]
fn synthetic_digits(py: Python<'_>, n: usize, seed: u64) -> PyResult<Arrays<'_>> {
    let split = detached(py, || Ok(synthetic::generate(n, 0, seed)))?;
    arrays_of(py, split.train)
}

/// The 28x28 MNIST-style bytes of the digit in an image file (as `lenet predict` reads it).
#[pyfunction]
fn read_digit(py: Python<'_>, path: PathBuf) -> PyResult<Bound<'_, PyArrayDyn<u8>>> {
    let image = detached(py, || preprocess::load(&path).map_err(to_py))?;
    array(py, &[preprocess::SIDE, preprocess::SIDE], image.to_vec())
}

/// The 28x28 MNIST-style bytes of the digit in `rgba` ([height, width, 4] uint8 pixels, row by
/// row: a PIL image or an array the Python side turned into RGBA), as `read_digit` makes a file's.
#[pyfunction]
fn prepare_rgba<'py>(py: Python<'py>, rgba: Bytes<'py>) -> PyResult<Bytes<'py>> {
    let shape = rgba.shape().to_vec();
    if shape.len() != 3 || shape[2] != 4 {
        return Err(value_error(format!("expected [height, width, 4] RGBA pixels, got shape {shape:?}")));
    }
    let (height, width) = (shape[0], shape[1]);
    let bytes = rgba.to_vec().map_err(|e| value_error(e.to_string()))?;
    let image = detached(py, || {
        let gray = preprocess::rgba_to_gray(bytes, width, height).map_err(to_py)?;
        preprocess::mnist_style(&gray.pixels, gray.width, gray.height).map_err(to_py)
    })?;
    array(py, &[preprocess::SIDE, preprocess::SIDE], image.to_vec())
}

/// `image` convolved with `kernel` (cross-correlation, no bias) on the CPU path, or with the GPU
/// one-shot op when `device` is "gpu" or an adapter index.
#[pyfunction]
#[pyo3(signature = (image, kernel, stride=1, padding=0, device="cpu"))]
fn convolve<'py>(
    py: Python<'py>,
    image: Bound<'py, PyArrayDyn<f32>>,
    kernel: Bound<'py, PyArrayDyn<f32>>,
    stride: usize,
    padding: usize,
    device: &str,
) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
    let plane = |a: &Bound<'py, PyArrayDyn<f32>>, name: &str| {
        Plane::from_rows(&rows(a, name)?).map_err(|e| value_error(format!("{name}: {e}")))
    };
    let (image, kernel) = (plane(&image, "image")?, Kernel(plane(&kernel, "kernel")?));
    let choice: DeviceChoice = device.parse().map_err(|why: String| value_error(format!("device: {why}")))?;
    let out = detached(py, || {
        let gpu = match choice {
            DeviceChoice::Cpu => None,
            other => Gpu::open(other).map_err(to_py)?,
        };
        lenet_gpu::convolve::convolve(gpu.as_ref(), &image, &kernel, stride, padding).map_err(to_py)
    })?;
    array(py, &[out.height, out.width], out.values)
}

/// The GPU adapters wgpu finds: [{index, name, backend, type, driver}].
#[pyfunction]
fn devices(py: Python<'_>) -> PyResult<Vec<Bound<'_, PyDict>>> {
    let adapters = detached(py, || Ok(list_adapters()))?;
    adapters
        .into_iter()
        .map(|a| {
            let d = PyDict::new(py);
            d.set_item("index", a.index)?;
            d.set_item("name", &a.info.name)?;
            d.set_item("backend", format!("{:?}", a.info.backend))?;
            d.set_item("type", format!("{:?}", a.info.device_type))?;
            d.set_item("driver", format!("{} {}", a.info.driver, a.info.driver_info).trim().to_string())?;
            Ok(d)
        })
        .collect()
}

/// Sets the CPU path's worker threads, once per process, before anything computes.
#[pyfunction]
fn set_threads(threads: usize) -> PyResult<()> {
    if threads == 0 {
        return Err(value_error("threads must be at least 1, got 0"));
    }
    match lenet_gpu::session::set_cpu_threads(threads) {
        Ok(()) => Ok(()),
        Err(_) if rayon::current_num_threads() == threads => Ok(()),
        Err(_) => Err(value_error(format!(
            "threads={threads}: the CPU path already runs {} worker threads, and they can be set only once per process, before any model computes (restart the kernel to change them)",
            rayon::current_num_threads()
        ))),
    }
}

/// A `fit`'s settings (`settings::complete`): those `given` gives (None: not given), else
/// `recipe`'s, else `last`'s, else the library's defaults, checked by the library; "epochs" is
/// this fit's (given, else the recipe's, else 1).
#[pyfunction]
#[pyo3(signature = (last, given, epochs=None, recipe=None))]
fn fit_settings<'py>(
    py: Python<'py>,
    last: Bound<'py, PyDict>,
    given: Bound<'py, PyDict>,
    epochs: Option<usize>,
    recipe: Option<&str>,
) -> PyResult<Bound<'py, PyDict>> {
    settings::complete(py, &last, &given, epochs, recipe)
}

/// The library's defaults for `fit`, as its settings dict, with "adam_lr", Adam's default rate.
#[pyfunction]
fn fit_defaults(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let out = settings::to_dict(py, &lenet_gpu::session::TrainConfig::default())?;
    out.set_item("adam_lr", lenet_gpu::session::OptimizerKind::Adam.default_learning_rate())?;
    Ok(out)
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Data>()?;
    m.add_class::<run::Session>()?;
    m.add("GpuError", m.py().get_type::<errors::GpuError>())?;
    m.add("DivergedError", m.py().get_type::<errors::DivergedError>())?;
    m.add_function(wrap_pyfunction!(load_mnist, m)?)?;
    m.add_function(wrap_pyfunction!(load_cifar10, m)?)?;
    m.add_function(wrap_pyfunction!(synthetic_digits, m)?)?;
    m.add_function(wrap_pyfunction!(read_digit, m)?)?;
    m.add_function(wrap_pyfunction!(prepare_rgba, m)?)?;
    m.add_function(wrap_pyfunction!(convolve, m)?)?;
    m.add_function(wrap_pyfunction!(devices, m)?)?;
    m.add_function(wrap_pyfunction!(set_threads, m)?)?;
    m.add_function(wrap_pyfunction!(fit_settings, m)?)?;
    m.add_function(wrap_pyfunction!(fit_defaults, m)?)?;
    for (setting, names) in settings::names() {
        m.add(format!("{}_NAMES", setting.to_uppercase()), names)?;
    }
    Ok(())
}
