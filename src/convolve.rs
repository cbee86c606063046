//! `lenet convolve`: one kernel applied to a picture with the engine's own convolution, to see
//! what a filter does. The kernel is a named one ([`NAMED_KERNELS`]: the lesson's three and the
//! usual filters, each saying what it does) or a literal nested list ([`Kernel`]'s `FromStr`);
//! the picture is read as grayscale with intensities in [0, 1] ([`read_plane`]); [`convolve`]
//! runs the CPU op or the GPU one-shot op; [`to_gray8`] maps the result to 8-bit gray
//! ([`GrayScale`], which also says the mapping in words) for a PNG ([`write_png`]). The same
//! result with its caption, input beside it, is `viz::convolved` (the `pictures` feature).

use crate::cpu::conv::ConvShape;
use crate::data::preprocess::{Gray16, read_gray};
#[cfg(not(target_arch = "wasm32"))]
use crate::gpu::{Activation, Gpu, ops};
use crate::{Error, Result};
use std::path::Path;

/// A kernel with a name: what `--kernel NAME` means, and what it does.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NamedKernel {
    pub name: &'static str,
    /// What the kernel does, in a sentence without a capital or a full stop.
    pub does: &'static str,
    pub values: [[f32; 3]; 3],
}

/// The named kernels: the lesson's three first (its vertical and horizontal edge detectors and
/// its third kernel, the sum of a pixel's eight neighbours), then the usual image filters.
pub const NAMED_KERNELS: [NamedKernel; 8] = [
    NamedKernel {
        name: "vertical-edge",
        does: "the lesson's vertical edges: right column minus left column, positive where the \
               picture gets brighter to the right",
        values: [[-1.0, 0.0, 1.0], [-1.0, 0.0, 1.0], [-1.0, 0.0, 1.0]],
    },
    NamedKernel {
        name: "horizontal-edge",
        does: "the lesson's horizontal edges: top row minus bottom row, positive where the picture \
               gets darker downwards",
        values: [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -1.0, -1.0]],
    },
    NamedKernel {
        name: "neighbours",
        does: "the lesson's third kernel: the sum of the eight neighbours, leaving the pixel itself \
               out; a blur, not an outline",
        values: [[1.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 1.0]],
    },
    NamedKernel {
        name: "outline",
        does: "8 times the pixel minus its eight neighbours (a Laplacian): 0 on flat regions, \
               strong at edges of every direction",
        values: [[-1.0, -1.0, -1.0], [-1.0, 8.0, -1.0], [-1.0, -1.0, -1.0]],
    },
    NamedKernel {
        name: "sharpen",
        does: "the pixel plus its difference from its four nearest neighbours: flat regions keep \
               their value, edges stand out",
        values: [[0.0, -1.0, 0.0], [-1.0, 5.0, -1.0], [0.0, -1.0, 0.0]],
    },
    NamedKernel {
        name: "blur",
        does: "a mean of the pixel and its eight neighbours, the nearer the more weight (a Gaussian \
               blur): softer; its weights sum to 1, so flat regions keep their value",
        values: [[0.0625, 0.125, 0.0625], [0.125, 0.25, 0.125], [0.0625, 0.125, 0.0625]],
    },
    NamedKernel {
        name: "sobel-x",
        does: "vertical edges as vertical-edge does, the middle row counted twice (Sobel): \
               positive where the picture gets brighter to the right",
        values: [[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]],
    },
    NamedKernel {
        name: "sobel-y",
        does: "horizontal edges, the middle column counted twice (Sobel): positive where the \
               picture gets brighter downwards",
        values: [[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]],
    },
];

impl NamedKernel {
    /// The named kernel called `name`.
    pub fn find(name: &str) -> Option<&'static NamedKernel> {
        NAMED_KERNELS.iter().find(|k| k.name == name)
    }

    pub fn kernel(&self) -> Kernel {
        Kernel(Plane { width: 3, height: 3, values: self.values.concat() })
    }
}

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
        if let Some(k) = NamedKernel::find(text) {
            return Ok(k.kernel());
        }
        if !text.starts_with('[') {
            let names: Vec<&str> = NAMED_KERNELS.iter().map(|k| k.name).collect();
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

impl Kernel {
    /// The named kernel with these values, if there is one (a literal list of its rows too).
    pub fn named(&self) -> Option<&'static NamedKernel> {
        NAMED_KERNELS.iter().find(|k| k.kernel() == *self)
    }

    /// The rows as a literal `--kernel` takes back: `[[-1,0,1],[-1,0,1],[-1,0,1]]`.
    pub fn literal(&self) -> String {
        let row = |r: &Vec<f32>| {
            // Display gives the shortest text that parses back to the same f32.
            let numbers: Vec<String> = r.iter().map(|v| v.to_string()).collect();
            format!("[{}]", numbers.join(","))
        };
        let rows: Vec<String> = self.0.rows().iter().map(row).collect();
        format!("[{}]", rows.join(","))
    }

    /// The kernel in words: its name and its rows, and what it does (a literal one: its size).
    pub fn describe(&self) -> String {
        match self.named() {
            Some(k) => format!("{} {}: {}", k.name, self.literal(), k.does),
            None => format!("the {}x{} kernel {}", self.0.width, self.0.height, self.literal()),
        }
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
            pollster::block_on(ops::conv2d_forward(
                gpu,
                &s,
                Activation::Identity,
                &image.values,
                &kernel.0.values,
                &bias,
            ))?
        }
        None => return convolve_on_cpu(image, kernel, stride, padding),
    };
    Ok(Plane { width: s.out_w(), height: s.out_h(), values })
}

/// `image` convolved with `kernel` by the CPU op (what `convolve` does without a GPU; the page's
/// too, in wasm).
pub fn convolve_on_cpu(image: &Plane, kernel: &Kernel, stride: usize, padding: usize) -> Result<Plane> {
    let s = shape(image, kernel, stride, padding)?;
    let mut out = vec![0.0; s.output_len()];
    crate::cpu::conv::conv2d_forward(&s, &image.values, &kernel.0.values, &[0.0], &mut out);
    Ok(Plane { width: s.out_w(), height: s.out_h(), values: out })
}

/// How [`to_gray8`] maps a plane's values to gray levels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum GrayScale {
    /// Values with a negative one: 0 is mid-gray 128, `-magnitude` black, `+magnitude` white.
    Signed { magnitude: f32 },
    /// No negative value: `min` black, `max` white.
    Stretched { min: f32, max: f32 },
    /// All values equal, none negative: all black.
    Constant { value: f32 },
}

impl GrayScale {
    pub fn of(plane: &Plane) -> GrayScale {
        let (min, max) = plane
            .values
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        if min < 0.0 {
            GrayScale::Signed { magnitude: max.abs().max(min.abs()) }
        } else if max > min {
            GrayScale::Stretched { min, max }
        } else {
            GrayScale::Constant { value: if min.is_finite() { min } else { 0.0 } }
        }
    }

    /// The gray level of `v`.
    pub fn gray(&self, v: f32) -> u8 {
        match *self {
            GrayScale::Signed { magnitude } => {
                (127.5 + 127.5 * v / magnitude).round().clamp(0.0, 255.0) as u8
            }
            GrayScale::Stretched { min, max } => {
                (255.0 * (v - min) / (max - min)).round().clamp(0.0, 255.0) as u8
            }
            GrayScale::Constant { .. } => 0,
        }
    }

    /// The mapping in words: "mid-gray is 0, black -3, white +3".
    pub fn describe(&self) -> String {
        let n = |v: f32| {
            let s = format!("{v:.3}");
            let s = s.trim_end_matches('0').trim_end_matches('.');
            if s == "-0" { "0".to_string() } else { s.to_string() }
        };
        match *self {
            GrayScale::Signed { magnitude } => {
                format!("mid-gray is 0, black -{}, white +{}", n(magnitude), n(magnitude))
            }
            GrayScale::Stretched { min, max } => {
                format!(
                    "no negative values, contrast stretched: black {} (the least), white {} (the most)",
                    n(min),
                    n(max)
                )
            }
            GrayScale::Constant { value } => format!("every value is {}: all black", n(value)),
        }
    }
}

/// The plane as 8-bit gray ([`GrayScale`]). Results with negative values (edge detectors) are
/// mapped symmetrically around 0: 0 becomes mid-gray 128, the largest magnitude becomes 0
/// (negative) or 255 (positive), so the sign of a response stays visible. Results with no
/// negative value are stretched from their minimum (0, black) to their maximum (255, white). A
/// constant plane is all 128 in the first case, and all 0 in the second.
pub fn to_gray8(plane: &Plane) -> Vec<u8> {
    let scale = GrayScale::of(plane);
    plane.values.iter().map(|&v| scale.gray(v)).collect()
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
