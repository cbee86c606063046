//! A colour photo made CIFAR-10-style for `predict`: the digits' preprocessing (ink cropped to
//! 20x20, centred by mass) would cut a photo's subject apart, so a photo is only cropped to its
//! central square, as CIFAR-10's are framed, and scaled to 32x32, keeping its colours.

use super::Dataset;
use super::cifar::{CHANNELS, PIXELS, SIDE};
use super::preprocess::read_image;
use crate::error::{Error, Result};
use image::imageops::{self, FilterType};
use std::path::Path;

/// The image at `path` as the 3x32x32 bytes (R, G, B planes) a CIFAR-10 network reads: its
/// central square scaled to 32x32 (a triangle filter, which averages every source pixel when
/// shrinking). Every error names the file.
pub fn load(path: &Path) -> Result<Vec<u8>> {
    let rgb = read_image(path)?.to_rgb8();
    let (w, h) = rgb.dimensions();
    let side = w.min(h);
    let square = imageops::crop_imm(&rgb, (w - side) / 2, (h - side) / 2, side, side).to_image();
    let small = imageops::resize(&square, SIDE as u32, SIDE as u32, FilterType::Triangle);
    Ok(planes(small.as_raw()))
}

/// Interleaved RGB bytes as R, G and B planes.
pub fn planes(rgb: &[u8]) -> Vec<u8> {
    (0..CHANNELS).flat_map(|c| rgb.iter().skip(c).step_by(CHANNELS).copied()).collect()
}

/// A 3x32x32 image (planes) as an RGB PNG: what the network saw (`predict --save-input`).
pub fn png(image: &[u8]) -> Result<Vec<u8>> {
    use image::ImageEncoder;
    if image.len() != PIXELS {
        return Err(Error::InvalidArgument(format!(
            "a CIFAR-10 image is {PIXELS} bytes, not {}",
            image.len()
        )));
    }
    let plane = SIDE * SIDE;
    let rgb: Vec<u8> = (0..plane).flat_map(|i| (0..CHANNELS).map(move |c| image[c * plane + i])).collect();
    let mut bytes = Vec::new();
    image::codecs::png::PngEncoder::new(&mut bytes)
        .write_image(&rgb, SIDE as u32, SIDE as u32, image::ExtendedColorType::Rgb8)
        .map_err(|e| Error::InvalidArgument(format!("encoding a PNG: {e}")))?;
    Ok(bytes)
}

/// A data set of CIFAR-10-style images (all labelled 0), for an engine to run.
pub fn dataset(images: &[Vec<u8>]) -> Dataset {
    Dataset {
        images: images.concat(),
        labels: vec![0; images.len()],
        channels: CHANNELS,
        rows: SIDE,
        cols: SIDE,
    }
}
