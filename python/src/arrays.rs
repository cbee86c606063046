//! NumPy in, NumPy out: images and labels copied into the engine's `Dataset` (bytes, as the
//! engine keeps them), and the engine's results as arrays. The Python layer has already checked
//! shapes and value ranges and made the arrays C-contiguous `uint8`, naming its arguments.

use crate::errors::value_error;
use lenet_gpu::data::{Dataset, Split};
use numpy::ndarray::{ArrayD, IxDyn};
use numpy::{
    IntoPyArray, PyArrayDyn, PyArrayMethods, PyReadonlyArray1, PyReadonlyArrayDyn, PyUntypedArrayMethods,
};
use pyo3::prelude::*;

/// Images (`[N, H, W]` gray or `[N, C, H, W]` uint8, each channel a plane, as the engine keeps
/// them) with their labels (`[N]` uint8), copied once into the engine's form, to train or
/// evaluate on as often as needed.
#[pyclass(frozen, module = "lenet_gpu._native")]
pub struct Data {
    /// The images as the training set; the test set is left empty (a `Session` trains on a split).
    pub split: Split,
}

#[pymethods]
impl Data {
    #[new]
    fn new(py: Python<'_>, x: PyReadonlyArrayDyn<'_, u8>, y: PyReadonlyArray1<'_, u8>) -> PyResult<Data> {
        let (n, channels, rows, cols) = match *x.shape() {
            [n, rows, cols] => (n, 1, rows, cols),
            [n, channels, rows, cols] => (n, channels, rows, cols),
            ref other => {
                return Err(value_error(format!(
                    "images of shape {other:?}: expected [N, H, W] or [N, C, H, W]"
                )));
            }
        };
        if y.len() != n {
            return Err(value_error(format!("x holds {n} images but y holds {} labels", y.len())));
        }
        let (images, labels) = (x.as_slice().map_err(not_contiguous)?, y.as_slice().map_err(not_contiguous)?);
        // The copy (47 MB for MNIST's training set) runs without the GIL.
        let (images, labels) = py.detach(move || (images.to_vec(), labels.to_vec()));
        let train = Dataset { images, labels, channels, rows, cols };
        let test = Dataset { images: Vec::new(), labels: Vec::new(), ..train };
        Ok(Data { split: Split { train, test } })
    }

    fn __len__(&self) -> usize {
        self.split.train.len()
    }
}

fn not_contiguous(e: numpy::AsSliceError) -> PyErr {
    value_error(format!("the array must be C-contiguous ({e})"))
}

/// `values` as a NumPy array of `shape`.
pub fn array<'py, T: numpy::Element>(
    py: Python<'py>,
    shape: &[usize],
    values: Vec<T>,
) -> PyResult<Bound<'py, PyArrayDyn<T>>> {
    let array = ArrayD::from_shape_vec(IxDyn(shape), values)
        .map_err(|e| value_error(format!("an array of shape {shape:?}: {e}")))?;
    Ok(array.into_pyarray(py))
}

/// A 2-D float array's rows, for `convolve`.
pub fn rows(a: &Bound<'_, PyArrayDyn<f32>>, name: &str) -> PyResult<Vec<Vec<f32>>> {
    let a = a.readonly();
    let view = a.as_array();
    if view.ndim() != 2 {
        return Err(value_error(format!("{name} must be a 2-D array, got shape {:?}", view.shape())));
    }
    Ok(view.outer_iter().map(|row| row.iter().copied().collect()).collect())
}
