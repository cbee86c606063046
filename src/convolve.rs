//! `lenet convolve`: one kernel applied to a picture with the engine's own convolution, to see
//! what a filter does. The kernel is a named one from the lesson or a literal nested list
//! ([`Kernel`]'s `FromStr`); the picture is read as grayscale with intensities in [0, 1]
//! ([`read_plane`]); [`convolve`] runs the CPU op or the GPU one-shot op; [`to_gray8`] maps the
//! result to 8-bit gray for a PNG ([`write_png`]).

use crate::cpu::conv::ConvShape;
use crate::data::preprocess::{Gray16, read_gray};
#[cfg(not(target_arch = "wasm32"))]
use crate::gpu::{Activation, Gpu, ops};
use crate::{Error, Result};
use std::path::Path;

/// The lesson's kernels, by name.
pub const NAMED_KERNELS: [(&str, [[f32; 3]; 3]); 3] = [
    ("vertical-edge", [[-1.0, 0.0, 1.0], [-1.0, 0.0, 1.0], [-1.0, 0.0, 1.0]]),
    ("horizontal-edge", [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -1.0, -1.0]]),
    ("outline", [[1.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 1.0]]),
];

/// A single-channel 2-D array of floats, row-major: an image, a kernel or a convolution's output.
#[derive(Clone, Debug, PartialEq)]
pub struct Plane {
    pub width: usize,
    pub height: usize,
    pub values: Vec<f32>,
}

impl Plane {
    /// A plane from its rows, which must all have the same length.
    pub fn from_rows(rows: &[Vec<f32>]) -> Result<Plane> {
        let width = rows.first().map_or(0, Vec::len);
        if width == 0 {
            return Err(Error::InvalidArgument("the array is empty".into()));
        }
        if let Some((i, row)) = rows.iter().enumerate().find(|(_, r)| r.len() != width) {
            return Err(Error::InvalidArgument(format!(
                "the rows differ in length: row 1 has {width} numbers, row {} has {}",
                i + 1,
                row.len()
            )));
        }
        Ok(Plane { width, height: rows.len(), values: rows.concat() })
    }

    /// The rows, for printing and tests.
    pub fn rows(&self) -> Vec<Vec<f32>> {
        self.values.chunks_exact(self.width.max(1)).map(<[f32]>::to_vec).collect()
    }
}

/// A convolution kernel: one channel in, one channel out, any rectangular size.
#[derive(Clone, Debug, PartialEq)]
pub struct Kernel(pub Plane);

impl std::str::FromStr for Kernel {
    type Err = Error;
    /// A name from [`NAMED_KERNELS`] or a literal such as `[[0,1],[2,3]]`: a list of rows, each a
    /// list of numbers, all rows the same length.
    fn from_str(text: &str) -> Result<Kernel> {
        let text = text.trim();
        if let Some((_, k)) = NAMED_KERNELS.iter().find(|(name, _)| *name == text) {
            let rows: Vec<Vec<f32>> = k.iter().map(|r| r.to_vec()).collect();
            return Plane::from_rows(&rows).map(Kernel);
        }
        if !text.starts_with('[') {
            let names: Vec<&str> = NAMED_KERNELS.iter().map(|(n, _)| *n).collect();
            return Err(bad_kernel(
                text,
                format!("expected {} or a list of rows such as [[0,1],[2,3]]", names.join(", ")),
            ));
        }
        let rows = parse_rows(text).map_err(|problem| bad_kernel(text, problem))?;
        Plane::from_rows(&rows).map(Kernel).map_err(|e| match e {
            Error::InvalidArgument(problem) => bad_kernel(text, problem.replace("the array", "the kernel")),
            other => other,
        })
    }
}

fn bad_kernel(text: &str, problem: impl std::fmt::Display) -> Error {
    Error::InvalidArgument(format!("kernel {text:?}: {problem}"))
}

/// `[[a, b, ...], [c, d, ...], ...]` → rows (lengths not yet checked against each other).
fn parse_rows(text: &str) -> std::result::Result<Vec<Vec<f32>>, String> {
    let inner = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .ok_or("a list of rows must start with [ and end with ]")?;
    let mut rows = Vec::new();
    let mut rest = inner.trim();
    if rest.is_empty() {
        return Err("the kernel is empty".into());
    }
    loop {
        let after = rest.strip_prefix('[').ok_or_else(|| {
            format!("expected a row such as [1, 2] at {:?} (the kernel is a list of rows)", clip(rest))
        })?;
        let end = after.find(']').ok_or("a row is missing its closing ]")?;
        let row_text = &after[..end];
        if row_text.contains('[') {
            return Err("rows must hold numbers, not lists".into());
        }
        let n = rows.len() + 1;
        let row = if row_text.trim().is_empty() {
            Vec::new()
        } else {
            row_text
                .split(',')
                .map(|item| {
                    let item = item.trim();
                    match item.parse::<f32>() {
                        Ok(v) if v.is_finite() => Ok(v),
                        _ if item.is_empty() => Err(format!("row {n} has an empty item")),
                        _ => Err(format!("row {n}: {item:?} is not a number")),
                    }
                })
                .collect::<std::result::Result<Vec<f32>, String>>()?
        };
        if row.is_empty() {
            return Err(format!("row {n} is empty"));
        }
        rows.push(row);
        rest = after[end + 1..].trim_start();
        if rest.is_empty() {
            return Ok(rows);
        }
        rest = rest
            .strip_prefix(',')
            .ok_or_else(|| format!("expected , or ] after row {n}, found {:?}", clip(rest)))?
            .trim_start();
    }
}

fn clip(s: &str) -> String {
    s.chars().take(12).collect()
}

/// 16-bit grayscale as intensities in [0, 1] (0 black, 1 white).
pub fn gray_to_plane(gray: &Gray16) -> Plane {
    let values = gray.pixels.iter().map(|&p| f32::from(p) / f32::from(u16::MAX)).collect();
    Plane { width: gray.width, height: gray.height, values }
}

/// Reads an image file (PNG, JPEG, BMP or GIF) as a grayscale plane in [0, 1].
pub fn read_plane(path: &Path) -> Result<Plane> {
    read_gray(path).map(|g| gray_to_plane(&g))
}

/// The geometry of convolving `image` with `kernel`, checked: stride at least 1, and the kernel
/// must fit in the padded image.
pub fn shape(image: &Plane, kernel: &Kernel, stride: usize, padding: usize) -> Result<ConvShape> {
    let k = &kernel.0;
    if stride == 0 {
        return Err(Error::InvalidArgument("the stride must be at least 1".into()));
    }
    if k.width > image.width + 2 * padding || k.height > image.height + 2 * padding {
        return Err(Error::InvalidArgument(format!(
            "the {}x{} kernel is larger than the {}x{} image with padding {padding}",
            k.width, k.height, image.width, image.height
        )));
    }
    Ok(ConvShape {
        batch: 1,
        in_channels: 1,
        in_h: image.height,
        in_w: image.width,
        out_channels: 1,
        kernel_h: k.height,
        kernel_w: k.width,
        stride,
        padding,
    })
}

/// `image` convolved with `kernel` (cross-correlation, as in the lesson and PyTorch; no bias),
/// with the GPU one-shot op when `gpu` is given, else the CPU op. Native only: the one-shot ops
/// wait for the GPU.
#[cfg(not(target_arch = "wasm32"))]
pub fn convolve(
    gpu: Option<&Gpu>,
    image: &Plane,
    kernel: &Kernel,
    stride: usize,
    padding: usize,
) -> Result<Plane> {
    let s = shape(image, kernel, stride, padding)?;
    let bias = [0.0f32];
    let values = match gpu {
        Some(gpu) => {
            let limit = gpu.device.limits().max_storage_buffer_binding_size as usize;
            let largest = s.input_len().max(s.output_len()) * 4;
            if largest > limit {
                return Err(Error::Gpu(crate::error::GpuError::ImageTooLarge { bytes: largest, limit }));
            }
            ops::conv2d_forward(gpu, &s, Activation::Identity, &image.values, &kernel.0.values, &bias)?
        }
        None => {
            let mut out = vec![0.0; s.output_len()];
            crate::cpu::conv::conv2d_forward(&s, &image.values, &kernel.0.values, &bias, &mut out);
            out
        }
    };
    Ok(Plane { width: s.out_w(), height: s.out_h(), values })
}

/// The plane as 8-bit gray. Results with negative values (edge detectors) are mapped
/// symmetrically around 0: 0 becomes mid-gray 128, the largest magnitude becomes 0 (negative) or
/// 255 (positive), so the sign of a response stays visible. Results with no negative value are
/// stretched from their minimum (0, black) to their maximum (255, white). A constant plane is
/// all 128 in the first case, and all 0 in the second.
pub fn to_gray8(plane: &Plane) -> Vec<u8> {
    let (min, max) =
        plane.values.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    if min < 0.0 {
        let scale = max.abs().max(min.abs());
        plane.values.iter().map(|&v| (127.5 + 127.5 * v / scale).round().clamp(0.0, 255.0) as u8).collect()
    } else if max > min {
        plane
            .values
            .iter()
            .map(|&v| (255.0 * (v - min) / (max - min)).round().clamp(0.0, 255.0) as u8)
            .collect()
    } else {
        vec![0; plane.values.len()]
    }
}

/// Writes the plane as an 8-bit grayscale PNG ([`to_gray8`]).
pub fn write_png(path: &Path, plane: &Plane) -> Result<()> {
    let image = image::GrayImage::from_raw(plane.width as u32, plane.height as u32, to_gray8(plane))
        .ok_or_else(|| Error::InvalidArgument("the plane's size does not match its values".into()))?;
    // Encoded in memory, then written atomically: a crash never leaves half a PNG.
    let mut png = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut png, image::ImageFormat::Png)
        .map_err(|e| Error::bad_data(path, format!("cannot encode the PNG ({e})")))?;
    crate::checkpoint::write_atomically(path, png.get_ref())
}
