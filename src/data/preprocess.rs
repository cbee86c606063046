//! Any picture of a digit made into a 28x28 MNIST-style image, the way MNIST's own digits were
//! made (LeCun et al.: "size normalized to fit in a 20x20 pixel box while preserving their
//! aspect ratio ... centered in a 28x28 image by computing the center of mass of the pixels").
//!
//! [`mnist_style`] is the pure part, on 16-bit grayscale pixels:
//!
//! 1. **Polarity.** The background level is the median of the border pixels (a ring one pixel
//!    wide). If the image's mean is below it the ink is darker than the background (dark ink on
//!    paper) and is inverted; otherwise the ink is lighter (MNIST's own polarity).
//! 2. **Levels.** Ink strength is the distance from the background level on the ink's side,
//!    scaled so the strongest ink is 1; strengths under [`NOISE_FLOOR`] of that are background
//!    (paper texture, JPEG noise) and the rest is stretched back to [0, 1]. If no pixel differs
//!    from the background by [`MIN_CONTRAST`] of full scale the image is blank: an error.
//! 3. **Stray ink.** The ink splits into pieces (8-connected pixels above the noise floor).
//!    Pieces touching the picture's edge that run edge to edge or enclose the rest (a form's
//!    lines, a frame) are dropped when a piece of the digit's weight stands free inside; then specks, pieces far lighter than
//!    the heaviest ([`SPECK`]) and away from the rest, are dropped too, and the levels are
//!    stretched again so the strongest ink left is 1 ([`drop_stray_ink`]). [`Dropped`] says
//!    what went.
//! 4. **Crop** to the bounding box of the pixels with ink of at least [`CROP_THRESHOLD`].
//! 5. **Scale** the crop so its longer side is 20 pixels, preserving the aspect ratio
//!    (Catmull-Rom resampling, whose support widens when shrinking, so it averages properly),
//!    then stretch the levels so the strongest pixel is 255 again: shrinking thins strokes'
//!    peaks, and every MNIST digit's strongest pixel is 254 or 255.
//! 6. **Center of mass.** Paste the scaled box into a 28x28 frame at the whole-pixel offset that
//!    puts its center of mass at pixel (14, 14) (row and column indices, as in MNIST, whose
//!    digits' centers of mass average (14.0, 14.0)); an offset that would push part of the box
//!    out of the frame is clamped, so the ink always fits.
//!
//! [`load`] reads a file (PNG, JPEG, BMP or GIF) into that grayscale first: see [`to_gray`] for
//! color and transparency. It reads the header before decoding and refuses images of more than
//! [`MAX_PIXELS`] pixels, so a huge file costs nothing.

use crate::data::Dataset;
use crate::{Error, Result};
use image::error::UnsupportedErrorKind;
use image::imageops::FilterType;
use image::metadata::Orientation;
use image::{DynamicImage, ImageBuffer, ImageDecoder, ImageError, ImageReader, Luma};
use std::io::BufReader;
use std::path::Path;

/// The side of an MNIST image.
pub const SIDE: usize = 28;
/// The side of the box the digit is scaled to fit.
pub const BOX: usize = 20;
/// The largest image [`load`] decodes, in pixels (e.g. 8660x5773): one that large takes up to
/// about 600 MB to decode and convert (16-bit RGBA); anything larger is an error, not gigabytes.
pub const MAX_PIXELS: u64 = 50_000_000;
/// The least difference from the background (as a fraction of full scale) that counts as ink.
pub const MIN_CONTRAST: f64 = 0.1;
/// Ink weaker than this fraction of the strongest ink is background noise.
pub const NOISE_FLOOR: f32 = 0.1;
/// Ink at least this strong (after the noise floor, strongest = 1) bounds the crop.
pub const CROP_THRESHOLD: f32 = 0.2;

/// A piece of ink lighter than this fraction of the heaviest piece's ink, away from the digit
/// ([`SPECK_GAP`]), is a speck (dust, noise), not part of the digit.
pub const SPECK: f64 = 0.03;
/// A speck is dropped when farther than this fraction of the digit's longer side from the
/// digit's box: close by, it is more likely a bit of a broken stroke, and it hardly moves the crop.
pub const SPECK_GAP: f64 = 0.2;
/// A piece standing free of the picture's edge is the digit, and pieces touching the edge are
/// dropped, when it holds at least this fraction of all the ink: a speck inside a tightly
/// cropped "0" does not make the "0" a frame.
pub const FREE_DIGIT: f64 = 0.05;

/// What [`prepare`] dropped as not part of the digit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dropped {
    /// Pieces of ink at the picture's edge running edge to edge or around the digit (a form's
    /// lines, a frame).
    pub at_edge: usize,
    /// Small pieces of ink apart from the digit.
    pub specks: usize,
}

impl Dropped {
    /// Whether anything was dropped.
    pub fn any(&self) -> bool {
        self.at_edge + self.specks > 0
    }
}

impl std::fmt::Display for Dropped {
    /// "ink touching the picture's edge (1 piece) and 12 specks".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plural = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let mut parts = Vec::new();
        if self.at_edge > 0 {
            parts.push(format!(
                "ink touching the picture's edge ({})",
                plural(self.at_edge, "piece", "pieces")
            ));
        }
        if self.specks > 0 {
            parts.push(plural(self.specks, "speck", "specks"));
        }
        write!(f, "{}", parts.join(" and "))
    }
}

/// A digit made MNIST-style, and what was dropped as not part of it.
#[derive(Clone, Debug, PartialEq)]
pub struct Digit {
    /// 28x28 bytes, 0 background, 255 strongest ink.
    pub pixels: [u8; SIDE * SIDE],
    pub dropped: Dropped,
}

/// A grayscale image, 16 bits per pixel (0 black, 65535 white), row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Gray16 {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u16>,
}

/// The 28x28 MNIST-style bytes (0 background, 255 strongest ink) of the digit in `gray`
/// (`width` x `height`, 0 black .. 65535 white, either polarity): [`prepare`]'s pixels.
pub fn mnist_style(gray: &[u16], width: usize, height: usize) -> Result<[u8; SIDE * SIDE]> {
    prepare(gray, width, height).map(|digit| digit.pixels)
}

/// The digit in `gray` (`width` x `height`, 0 black .. 65535 white, either polarity) made
/// MNIST-style, with what was dropped as stray ink. Errors (as `Error::InvalidArgument`) for an
/// empty image and for a blank one.
pub fn prepare(gray: &[u16], width: usize, height: usize) -> Result<Digit> {
    let invalid = |msg: String| Err(Error::InvalidArgument(msg));
    if width == 0 || height == 0 {
        return invalid(format!("the image is empty ({width}x{height} pixels)"));
    }
    if gray.len() != width * height {
        return invalid(format!("{} pixels for a {width}x{height} image", gray.len()));
    }
    let blank = || invalid("the image is blank: no ink stands out from the background".into());

    // 1-2: polarity and levels.
    let background = border_median(gray, width, height);
    let mean = gray.iter().map(|&v| v as f64).sum::<f64>() / gray.len() as f64;
    let dark_ink = mean < background;
    let strength = |v: u16| {
        let d = v as f64 - background;
        (if dark_ink { -d } else { d }).max(0.0)
    };
    let strongest = gray.iter().map(|&v| strength(v)).fold(0.0, f64::max);
    if strongest < MIN_CONTRAST * u16::MAX as f64 {
        return blank();
    }
    let mut ink: Vec<f32> = gray
        .iter()
        .map(|&v| ((strength(v) / strongest) as f32 - NOISE_FLOOR).max(0.0) / (1.0 - NOISE_FLOOR))
        .collect();

    // 3: stray ink.
    let dropped = drop_stray_ink(&mut ink, width, height);

    // 4: crop to the bounding box of the clear ink (never empty: the strongest pixel is 1).
    let (mut x0, mut y0, mut x1, mut y1) = (width, height, 0, 0);
    for (i, _) in ink.iter().enumerate().filter(|&(_, &v)| v >= CROP_THRESHOLD) {
        let (x, y) = (i % width, i / width);
        (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x + 1), y1.max(y + 1));
    }
    let (cw, ch) = (x1 - x0, y1 - y0);
    let crop: Vec<f32> = (y0..y1).flat_map(|y| ink[y * width + x0..y * width + x1].iter().copied()).collect();
    let crop = ImageBuffer::<Luma<f32>, Vec<f32>>::from_raw(cw as u32, ch as u32, crop)
        .expect("crop buffer matches its size");

    // 5: longer side to 20, aspect ratio preserved.
    let scale = BOX as f64 / cw.max(ch) as f64;
    let fit = |side: usize| ((side as f64 * scale).round() as usize).clamp(1, BOX);
    let (bw, bh) = (fit(cw), fit(ch));
    let scaled = image::imageops::resize(&crop, bw as u32, bh as u32, FilterType::CatmullRom).into_raw();
    let peak = scaled.iter().copied().fold(0.0, f32::max);
    if peak <= 0.0 {
        return blank(); // nothing of the ink survived the scaling
    }
    let scaled: Vec<u8> = scaled.iter().map(|&v| (v.clamp(0.0, peak) / peak * 255.0).round() as u8).collect();

    // 6: center of mass to (14, 14).
    let (mut mass, mut mx, mut my) = (0.0f64, 0.0f64, 0.0f64);
    for (i, &v) in scaled.iter().enumerate() {
        let v = v as f64;
        mass += v;
        mx += v * (i % bw) as f64;
        my += v * (i / bw) as f64;
    }
    let center = (SIDE / 2) as f64;
    let offset = |com: f64, side: usize| ((center - com).round().max(0.0) as usize).min(SIDE - side);
    let (ox, oy) = (offset(mx / mass, bw), offset(my / mass, bh));
    let mut out = [0u8; SIDE * SIDE];
    for (y, row) in scaled.chunks_exact(bw).enumerate() {
        out[(y + oy) * SIDE + ox..(y + oy) * SIDE + ox + bw].copy_from_slice(row);
    }
    Ok(Digit { pixels: out, dropped })
}

/// Drops from `ink` (`width` x `height`, strongest 1) the pieces that are not the digit, and
/// stretches what is left so its strongest is 1 again. A piece is a set of 8-connected pixels
/// with ink. Where pieces standing free hold [`FREE_DIGIT`] of the ink, pieces at the edge that
/// run edge to edge or enclose them go (a form's lines, a frame; a digit cropped tight, a stroke
/// running off the picture, stay). Then specks go: pieces lighter
/// than [`SPECK`] of the heaviest and farther than [`SPECK_GAP`] from the box of the others, the
/// ones that would widen the crop; bits of a broken stroke, close by, stay.
pub fn drop_stray_ink(ink: &mut [f32], width: usize, height: usize) -> Dropped {
    let (piece_of, pieces) = pieces(ink, width, height);
    let total: f64 = pieces.iter().map(|p| p.mass).sum();
    // The box of the pieces standing free with the digit's weight, if any.
    let free = pieces
        .iter()
        .filter(|p| p.edges == 0 && p.mass >= FREE_DIGIT * total)
        .map(|p| p.bounds)
        .reduce(union);
    // Around it, a piece at the edge that runs edge to edge or encloses it is a line or a frame.
    let stray = |p: &Piece| {
        let across = p.edges & LEFT_RIGHT == LEFT_RIGHT || p.edges & TOP_BOTTOM == TOP_BOTTOM;
        free.is_some_and(|f| p.edges != 0 && (across || union(p.bounds, f) == p.bounds))
    };
    let mut keep: Vec<bool> = pieces.iter().map(|p| !stray(p)).collect();
    let mut dropped = Dropped { at_edge: keep.iter().filter(|k| !**k).count(), specks: 0 };
    let heaviest = pieces.iter().zip(&keep).filter(|(_, k)| **k).map(|(p, _)| p.mass).fold(0.0, f64::max);
    let light = |p: &Piece| p.mass < SPECK * heaviest;
    let body =
        pieces.iter().zip(&keep).filter(|(p, k)| **k && !light(p)).map(|(p, _)| p.bounds).reduce(union);
    if let Some(body) = body {
        let gap = SPECK_GAP * (body.2 - body.0).max(body.3 - body.1) as f64;
        for (p, k) in pieces.iter().zip(keep.iter_mut()) {
            if *k && light(p) && distance(p.bounds, body) as f64 > gap {
                *k = false;
                dropped.specks += 1;
            }
        }
    }
    if !dropped.any() {
        return dropped;
    }
    for (v, piece) in ink.iter_mut().zip(&piece_of) {
        if *piece != NONE && !keep[*piece as usize] {
            *v = 0.0;
        }
    }
    let strongest = ink.iter().copied().fold(0.0, f32::max);
    ink.iter_mut().for_each(|v| *v /= strongest);
    dropped
}

/// The gap, in pixels along x or y (the larger), between two boxes (x0, y0, x1, y1), exclusive
/// ends; 0 when they touch or overlap.
fn distance(a: Bounds, b: Bounds) -> usize {
    let dx = b.0.saturating_sub(a.2).max(a.0.saturating_sub(b.2));
    let dy = b.1.saturating_sub(a.3).max(a.1.saturating_sub(b.3));
    dx.max(dy)
}

/// A box (x0, y0, x1, y1) of pixels, exclusive ends.
type Bounds = (usize, usize, usize, usize);

/// The smallest box holding both.
fn union(a: Bounds, b: Bounds) -> Bounds {
    (a.0.min(b.0), a.1.min(b.1), a.2.max(b.2), a.3.max(b.3))
}

/// The picture's edges a piece touches, as bits: left and right, top and bottom.
const LEFT_RIGHT: u8 = 0b0011;
const TOP_BOTTOM: u8 = 0b1100;

/// No piece: a pixel without ink.
const NONE: u32 = u32::MAX;

/// A piece of ink: its total ink, its box, and the picture's edges it touches (bits).
struct Piece {
    mass: f64,
    bounds: Bounds,
    edges: u8,
}

/// Each pixel's piece (an index into the pieces, or [`NONE`]) and the pieces, found by flood
/// fill over the 8 neighbours.
fn pieces(ink: &[f32], width: usize, height: usize) -> (Vec<u32>, Vec<Piece>) {
    let mut piece_of = vec![NONE; ink.len()];
    let mut pieces = Vec::new();
    let mut stack = Vec::new();
    for start in 0..ink.len() {
        if ink[start] <= 0.0 || piece_of[start] != NONE {
            continue;
        }
        let id = pieces.len() as u32;
        let mut piece = Piece { mass: 0.0, bounds: (width, height, 0, 0), edges: 0 };
        piece_of[start] = id;
        stack.push(start);
        while let Some(i) = stack.pop() {
            let (x, y) = (i % width, i / width);
            piece.mass += ink[i] as f64;
            let b = piece.bounds;
            piece.bounds = (b.0.min(x), b.1.min(y), b.2.max(x + 1), b.3.max(y + 1));
            let bit = |on: bool, bit: u8| if on { bit } else { 0 };
            piece.edges |= bit(x == 0, 0b0001) | bit(x == width - 1, 0b0010);
            piece.edges |= bit(y == 0, 0b0100) | bit(y == height - 1, 0b1000);
            for ny in y.saturating_sub(1)..(y + 2).min(height) {
                for nx in x.saturating_sub(1)..(x + 2).min(width) {
                    let j = ny * width + nx;
                    if ink[j] > 0.0 && piece_of[j] == NONE {
                        piece_of[j] = id;
                        stack.push(j);
                    }
                }
            }
        }
        pieces.push(piece);
    }
    (piece_of, pieces)
}

/// The median of the outermost ring of pixels (the mean of the two middle values when their
/// count is even, so inverting the image inverts the median exactly).
fn border_median(gray: &[u16], width: usize, height: usize) -> f64 {
    let mut border: Vec<u16> = (0..width * height)
        .filter(|i| {
            let (x, y) = (i % width, i / width);
            x == 0 || y == 0 || x == width - 1 || y == height - 1
        })
        .map(|i| gray[i])
        .collect();
    border.sort_unstable();
    let n = border.len();
    (border[(n - 1) / 2] as f64 + border[n / 2] as f64) / 2.0
}

/// `to_gray` of RGBA bytes, row-major: a canvas's pixels (`getImageData`).
pub fn rgba_to_gray(rgba: Vec<u8>, width: usize, height: usize) -> Result<Gray16> {
    let bytes = rgba.len();
    let image =
        image::RgbaImage::from_raw(width as u32, height as u32, rgba).filter(|_| bytes == width * height * 4);
    let image = image.ok_or_else(|| {
        Error::InvalidArgument(format!("{bytes} bytes are not {width}x{height} RGBA pixels"))
    })?;
    Ok(to_gray(&DynamicImage::ImageRgba8(image)))
}

/// A decoded image as 16-bit grayscale (Rec. 709 luma of the RGB values). Transparent pixels
/// are composited onto a background: when the opaque part covers at least half the picture it is
/// a picture with its own background (paper), and transparency takes the opaque part's median
/// gray; when it covers less, it is strokes on a transparent canvas, and transparency becomes
/// white under dark strokes and black under light ones (so either polarity survives).
pub fn to_gray(image: &DynamicImage) -> Gray16 {
    let (width, height) = (image.width() as usize, image.height() as usize);
    if !image.color().has_alpha() {
        return Gray16 { width, height, pixels: image.to_luma16().into_raw() };
    }
    let la = image.to_luma_alpha16().into_raw();
    let pixels = la.chunks_exact(2);
    let max = u16::MAX as u64;
    let (mut coverage, mut weighted) = (0u64, 0u64);
    let mut histogram = vec![0u64; 1 << 16];
    for p in pixels.clone() {
        let (l, a) = (p[0] as u64, p[1] as u64);
        coverage += a;
        weighted += l * a;
        if a > max / 2 {
            histogram[l as usize] += 1;
        }
    }
    let total = (width * height) as u64;
    let background: u64 = if coverage * 2 >= total * max {
        // The median gray of the (mostly) opaque pixels.
        let opaque: u64 = histogram.iter().sum();
        let mut seen = 0;
        histogram
            .iter()
            .position(|&c| {
                seen += c;
                seen * 2 >= opaque
            })
            .unwrap_or(max as usize) as u64
    } else if coverage > 0 && weighted / coverage > max / 2 {
        0 // light strokes
    } else {
        max // dark strokes (or nothing visible: white, and blank later)
    };
    let pixels = pixels
        .map(|p| ((p[0] as u64 * p[1] as u64 + background * (max - p[1] as u64) + max / 2) / max) as u16);
    Gray16 { width, height, pixels: pixels.collect() }
}

/// Reads an image file (PNG, JPEG, BMP or GIF, recognised by its content; EXIF orientation
/// applied) as grayscale. Checks the dimensions in the header before decoding anything.
pub fn read_gray(path: &Path) -> Result<Gray16> {
    read_image(path).map(|image| to_gray(&image))
}

/// Reads an image file as `read_gray` does, keeping its colours.
pub fn read_image(path: &Path) -> Result<DynamicImage> {
    let bad = |problem: String| Error::bad_data(path, problem);
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let reader =
        ImageReader::new(BufReader::new(file)).with_guessed_format().map_err(|e| Error::io(path, e))?;
    let format = reader
        .format()
        .ok_or_else(|| bad("not an image (lenet reads PNG, JPEG, BMP and GIF files)".into()))?;
    let name = format!("{format:?}").to_uppercase();
    let image_error = |e: ImageError| match e {
        ImageError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            bad(format!("the {name} image is truncated"))
        }
        ImageError::IoError(e) => Error::io(path, e),
        ImageError::Unsupported(u) if matches!(u.kind(), UnsupportedErrorKind::Format(_)) => {
            bad(format!("{name} images are not supported (PNG, JPEG, BMP and GIF are)"))
        }
        ImageError::Limits(e) => bad(format!("the image is too large to decode ({e})")),
        e => bad(format!("not a readable {name} image ({e})")),
    };
    let mut decoder = reader.into_decoder().map_err(image_error)?;
    let (w, h) = decoder.dimensions();
    if w == 0 || h == 0 {
        return Err(bad(format!("the image is empty ({w}x{h} pixels)")));
    }
    if w as u64 * h as u64 > MAX_PIXELS {
        return Err(bad(format!(
            "the image is {w}x{h}, {:.0} megapixels: lenet reads at most {} megapixels (scale it down first)",
            w as f64 * h as f64 / 1e6,
            MAX_PIXELS / 1_000_000
        )));
    }
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(image_error)?;
    image.apply_orientation(orientation);
    Ok(image)
}

/// [`read_gray`] then [`mnist_style`]: the 28x28 bytes of the digit in the image file at `path`.
/// Every error names the file.
pub fn load(path: &Path) -> Result<[u8; SIDE * SIDE]> {
    load_digit(path).map(|digit| digit.pixels)
}

/// [`read_gray`] then [`prepare`]: the digit in the image file at `path`, with what was dropped.
/// Every error names the file.
pub fn load_digit(path: &Path) -> Result<Digit> {
    let gray = read_gray(path)?;
    prepare(&gray.pixels, gray.width, gray.height).map_err(|e| match e {
        Error::InvalidArgument(problem) => Error::bad_data(path, problem),
        other => other,
    })
}

/// A 28x28 MNIST-style image as an 8-bit grayscale PNG, pixel for pixel: the bytes the network
/// reads (0 black background, 255 white ink, as MNIST's own files).
pub fn png(image: &[u8; SIDE * SIDE]) -> Result<Vec<u8>> {
    use image::ImageEncoder;
    let mut bytes = Vec::new();
    image::codecs::png::PngEncoder::new(&mut bytes)
        .write_image(image, SIDE as u32, SIDE as u32, image::ExtendedColorType::L8)
        .map_err(|e| Error::InvalidArgument(format!("encoding a PNG: {e}")))?;
    Ok(bytes)
}

/// A data set of MNIST-style images (all labelled 0), for an engine to run.
pub fn dataset(images: &[[u8; SIDE * SIDE]]) -> Dataset {
    Dataset::gray(images.concat(), vec![0; images.len()], SIDE, SIDE)
}
