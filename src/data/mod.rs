//! Data: the IDX reader, finding and downloading MNIST, synthetic digits, image files made
//! MNIST-style, and batch assembly.
//!
//! Images stay as bytes (`u8`, 0 = background) until a batch is assembled: that is 47 MB for
//! MNIST's training set instead of 188 MB as f32, and it is the form the GPU path keeps resident.

pub mod augment;
pub mod collection;
pub mod download;
pub mod idx;
pub mod image_files;
pub mod mnist;
pub mod preprocess;
pub mod synthetic;

/// MNIST's pixel mean and standard deviation after scaling to [0, 1] (the standard recipe, so
/// figures compare with PyTorch's).
pub const MEAN: f32 = 0.1307;
pub const STD: f32 = 0.3081;

/// Labelled grayscale images, row-major bytes, all of one size.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    pub images: Vec<u8>,
    pub labels: Vec<u8>,
    pub rows: usize,
    pub cols: usize,
}

/// A training set and a held-out test set.
#[derive(Clone, Debug)]
pub struct Split {
    pub train: Dataset,
    pub test: Dataset,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn pixels_per_image(&self) -> usize {
        self.rows * self.cols
    }

    pub fn image(&self, i: usize) -> &[u8] {
        let p = self.pixels_per_image();
        &self.images[i * p..(i + 1) * p]
    }

    /// The first `n` examples (all of them if there are fewer).
    pub fn take(&self, n: usize) -> Dataset {
        let n = n.min(self.len());
        Dataset {
            images: self.images[..n * self.pixels_per_image()].to_vec(),
            labels: self.labels[..n].to_vec(),
            rows: self.rows,
            cols: self.cols,
        }
    }

    /// Copies the examples at `indices` into `images` (scaled to [0,1], then normalized with
    /// MEAN and STD) and `labels`. This is the CPU twin of the GPU's batch-gather kernel.
    pub fn gather_normalized(&self, indices: &[u32], images: &mut [f32], labels: &mut [u32]) {
        let p = self.pixels_per_image();
        assert_eq!(images.len(), indices.len() * p, "image buffer size");
        assert_eq!(labels.len(), indices.len(), "label buffer size");
        for ((&i, dst), label) in indices.iter().zip(images.chunks_exact_mut(p)).zip(labels) {
            for (d, &s) in dst.iter_mut().zip(self.image(i as usize)) {
                *d = normalize_pixel(s);
            }
            *label = self.labels[i as usize] as u32;
        }
    }
}

/// One byte pixel to the network's input scale.
pub fn normalize_pixel(byte: u8) -> f32 {
    (byte as f32 / 255.0 - MEAN) / STD
}
