//! Data: the IDX reader, the CIFAR-10 reader, finding and downloading MNIST and CIFAR-10,
//! synthetic digits, image files made MNIST-style, and batch assembly.
//!
//! Images stay as bytes (`u8`, 0 = background) until a batch is assembled: that is 47 MB for
//! MNIST's training set instead of 188 MB as f32, and it is the form the GPU path keeps resident.

pub mod augment;
pub mod cifar;
pub mod collection;
pub mod download;
pub mod idx;
pub mod image_files;
pub mod mnist;
pub mod photo;
pub mod preprocess;
pub mod synthetic;

/// MNIST's pixel mean and standard deviation after scaling to [0, 1] (the standard recipe, so
/// figures compare with PyTorch's).
pub const MEAN: f32 = 0.1307;
pub const STD: f32 = 0.3081;

/// How byte pixels become the network's input, channel by channel: `(byte / 255 - mean) / std`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Normalization {
    pub mean: &'static [f32],
    pub std: &'static [f32],
}

/// MNIST's (Fashion-MNIST uses it too, as its tutorials' figures do).
pub const GRAY: Normalization = Normalization { mean: &[MEAN], std: &[STD] };
/// CIFAR-10's per-channel (R, G, B) mean and standard deviation of its training set, scaled to
/// [0, 1].
pub const CIFAR10: Normalization =
    Normalization { mean: &[0.4914, 0.4822, 0.4465], std: &[0.2470, 0.2435, 0.2616] };

impl Normalization {
    /// The one rule for images of `channels` channels: colour (3) is normalized with CIFAR-10's
    /// numbers, anything else with MNIST's for every channel. A model file records the input's
    /// channels, so it is read back with the numbers it was trained with.
    pub fn for_channels(channels: usize) -> Normalization {
        if channels == 3 { CIFAR10 } else { GRAY }
    }

    /// Channel `c`'s (mean, std).
    pub fn of(&self, c: usize) -> (f32, f32) {
        let c = if c < self.mean.len() { c } else { 0 };
        (self.mean[c], self.std[c])
    }

    /// One byte pixel of channel `c` to the network's input scale.
    pub fn pixel(&self, c: usize, byte: u8) -> f32 {
        let (mean, std) = self.of(c);
        (byte as f32 / 255.0 - mean) / std
    }

    /// Every byte's normalized value for each of `channels` channels (channel c's at
    /// `c * 256 + byte`): the GPU gather looks pixels up here rather than dividing, since a
    /// driver may turn a division by a constant into a multiplication by its reciprocal
    /// (SwiftShader does), one ulp from the CPU's value.
    pub fn levels(&self, channels: usize) -> Vec<f32> {
        (0..channels.max(1)).flat_map(|c| (0..=255u8).map(move |b| self.pixel(c, b))).collect()
    }

    /// As recorded in a model file: "mean=0.1307,std=0.3081", or lists for colour.
    pub fn describe(&self) -> String {
        let list = |v: &[f32]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>().join("/");
        format!("mean={},std={}", list(self.mean), list(self.std))
    }
}

/// Labelled images, bytes, all of one size: channel planes (one for gray, R, G, B for colour),
/// each row-major, as the network reads them.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    pub images: Vec<u8>,
    pub labels: Vec<u8>,
    pub channels: usize,
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

    /// Gray images of `rows` x `cols`.
    pub fn gray(images: Vec<u8>, labels: Vec<u8>, rows: usize, cols: usize) -> Dataset {
        Dataset { images, labels, channels: 1, rows, cols }
    }

    /// Bytes per image: every channel's plane.
    pub fn pixels_per_image(&self) -> usize {
        self.channels * self.rows * self.cols
    }

    /// The images' shape, as a network's input is given.
    pub fn shape(&self) -> crate::model::Shape {
        crate::model::Shape::new(self.channels, self.rows, self.cols)
    }

    /// How its bytes become the network's input.
    pub fn normalization(&self) -> Normalization {
        Normalization::for_channels(self.channels)
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
            ..*self
        }
    }

    /// Copies the examples at `indices` into `images` (scaled to 0..=1, then normalized with
    /// each channel's mean and std, `normalization`) and `labels`. This is the CPU twin of the
    /// GPU's batch-gather kernel.
    pub fn gather_normalized(&self, indices: &[u32], images: &mut [f32], labels: &mut [u32]) {
        let p = self.pixels_per_image();
        let plane = (self.rows * self.cols).max(1);
        let norm = self.normalization();
        assert_eq!(images.len(), indices.len() * p, "image buffer size");
        assert_eq!(labels.len(), indices.len(), "label buffer size");
        for ((&i, dst), label) in indices.iter().zip(images.chunks_exact_mut(p)).zip(labels) {
            for (c, (dst, src)) in dst.chunks_mut(plane).zip(self.image(i as usize).chunks(plane)).enumerate()
            {
                for (d, &s) in dst.iter_mut().zip(src) {
                    *d = norm.pixel(c, s);
                }
            }
            *label = self.labels[i as usize] as u32;
        }
    }
}

/// One gray byte pixel to the network's input scale.
pub fn normalize_pixel(byte: u8) -> f32 {
    (byte as f32 / 255.0 - MEAN) / STD
}
