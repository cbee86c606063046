//! Pictures of what the network learned and how it did, drawn with `plotters` into an RGB buffer
//! and written as PNG files: the conv kernels (`kernels`), every feature map for one input
//! (`features`), training curves (`curves`), the confusion matrix (`confusion`), accuracy
//! under translation (`shift`), one convolution with its caption (`convolved`) and the test
//! images a model got wrong (`gallery`).
//!
//! The text uses DejaVu Sans, built into the binary (`assets/fonts/`), so a machine with no
//! fonts installed draws the same figures.

pub mod canvas;
pub mod confusion;
pub mod convolved;
pub mod curves;
pub mod features;
pub mod gallery;
pub mod kernels;
pub mod shift;

use crate::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

/// The font every figure uses (see `assets/fonts/README.md` for its license).
const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
/// The family name the font is registered under, for `plotters`' text styles.
pub const FAMILY: &str = "sans-serif";

/// A drawing surface: the bitmap backend over an RGB buffer, text laid out by [`canvas`].
pub type Area<'a> = DrawingArea<canvas::Canvas<'a>, Shift>;

/// Registers the built-in font with `plotters` (once per process).
fn register_font() -> Result<()> {
    static REGISTERED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok =
        *REGISTERED.get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    if ok { Ok(()) } else { Err(Error::Drawing("the built-in font could not be read".into())) }
}

/// A drawing error of any kind, as the library's error.
pub fn drawing_error(e: impl std::fmt::Display) -> Error {
    Error::Drawing(e.to_string())
}

/// An RGB picture (3 bytes a pixel, row-major), as drawn.
#[derive(Clone, Debug, PartialEq)]
pub struct Picture {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}

impl Picture {
    /// A `width` x `height` picture on a white background, drawn by `draw`.
    pub fn draw(
        width: u32,
        height: u32,
        draw: impl FnOnce(&Area) -> std::result::Result<(), Box<dyn std::error::Error>>,
    ) -> Result<Picture> {
        register_font()?;
        let mut rgb = vec![255u8; width as usize * height as usize * 3];
        {
            let bitmap = BitMapBackend::with_buffer(&mut rgb, (width, height));
            let area = canvas::Canvas::new(bitmap).into_drawing_area();
            draw(&area).map_err(drawing_error)?;
            area.present().map_err(drawing_error)?;
        }
        Ok(Picture { width, height, rgb })
    }

    /// The picture as PNG bytes.
    pub fn png(&self) -> Result<Vec<u8>> {
        use image::ImageEncoder;
        use image::codecs::png::{CompressionType, FilterType, PngEncoder};
        let mut bytes = Vec::new();
        PngEncoder::new_with_quality(&mut bytes, CompressionType::Best, FilterType::Adaptive)
            .write_image(&self.rgb, self.width, self.height, image::ExtendedColorType::Rgb8)
            .map_err(drawing_error)?;
        Ok(bytes)
    }

    /// Writes the picture as a PNG file, atomically (a temporary file, then a rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::checkpoint::write_atomically(path, &self.png()?)
    }
}

/// A text style of `size` pixels in the built-in font, anchored at its top left.
pub fn text(size: u32) -> TextStyle<'static> {
    TextStyle::from((FAMILY, size).into_font()).color(&BLACK)
}

/// The same, anchored at `(h, v)`: e.g. centered on the point given to `draw_text`.
pub fn text_at(size: u32, h: HPos, v: VPos) -> TextStyle<'static> {
    text(size).pos(Pos::new(h, v))
}

/// The width and height in pixels of `s` drawn at `size`.
pub fn text_size(s: &str, size: u32) -> (u32, u32) {
    canvas::Line::new(s, f64::from(size))
        .map_or((s.chars().count() as u32 * size * 3 / 5, size), |line| line.size())
}

/// A filled rectangle from `(x, y)`, `w` x `h` pixels.
pub fn fill_rect(
    area: &Area,
    (x, y): (i32, i32),
    (w, h): (i32, i32),
    color: RGBColor,
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    // The bitmap backend fills up to the second corner, exclusive.
    area.draw(&Rectangle::new([(x, y), (x + w, y + h)], color.filled()))?;
    Ok(())
}

/// A 1-pixel outline around the rectangle from `(x, y)`, `w` x `h` pixels.
pub fn outline_rect(
    area: &Area,
    (x, y): (i32, i32),
    (w, h): (i32, i32),
    color: RGBColor,
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    area.draw(&Rectangle::new([(x - 1, y - 1), (x + w, y + h)], color))?;
    Ok(())
}

/// Blue for negative, white for 0, red for positive: `t` in [-1, 1] (clamped), linear in each
/// half between ColorBrewer's RdBu ends.
pub fn diverging(t: f32) -> RGBColor {
    let t = if t.is_nan() { 0.0 } else { t.clamp(-1.0, 1.0) };
    let end = if t < 0.0 { (33.0, 102.0, 172.0) } else { (178.0, 24.0, 43.0) };
    let a = t.abs();
    let mix = |e: f32| (255.0 + (e - 255.0) * a).round() as u8;
    RGBColor(mix(end.0), mix(end.1), mix(end.2))
}

/// Black for 0 to white for 1 (clamped).
pub fn gray(t: f32) -> RGBColor {
    let v = (if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) } * 255.0).round() as u8;
    RGBColor(v, v, v)
}

/// White for 0 to dark blue for 1 (clamped): for counts and accuracies.
pub fn blues(t: f32) -> RGBColor {
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    let (from, to) = ((247.0, 251.0, 255.0), (8.0, 48.0, 107.0));
    let mix = |f: f32, e: f32| (f + (e - f) * t).round() as u8;
    RGBColor(mix(from.0, to.0), mix(from.1, to.1), mix(from.2, to.2))
}

/// Black or white, whichever reads better on `background`.
pub fn ink_on(background: RGBColor) -> RGBColor {
    let RGBColor(r, g, b) = background;
    let luma = 0.2126 * r as f32 + 0.7152 * g as f32 + 0.0722 * b as f32;
    if luma < 128.0 { WHITE } else { BLACK }
}

/// The largest magnitude in `values` (1 when all are 0 or there are none, so dividing by it is
/// always safe).
pub fn magnitude(values: &[f32]) -> f32 {
    let m = values.iter().filter(|v| v.is_finite()).fold(0.0f32, |m, v| m.max(v.abs()));
    if m > 0.0 { m } else { 1.0 }
}

/// A colour bar `w` x `h` pixels at `(x, y)`, from `color(-1)` (or `color(0)` when `signed` is
/// false) to `color(1)`, labelled with `low` and `high` at its ends.
#[allow(clippy::too_many_arguments)]
pub fn color_bar(
    area: &Area,
    (x, y): (i32, i32),
    (w, h): (i32, i32),
    signed: bool,
    color: &dyn Fn(f32) -> RGBColor,
    low: &str,
    high: &str,
    size: u32,
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    for i in 0..w {
        let t = i as f32 / (w - 1).max(1) as f32;
        let t = if signed { 2.0 * t - 1.0 } else { t };
        fill_rect(area, (x + i, y), (1, h), color(t))?;
    }
    outline_rect(area, (x, y), (w, h), RGBColor(160, 160, 160))?;
    let below = y + h + 2;
    area.draw_text(low, &text_at(size, HPos::Left, VPos::Top), (x, below))?;
    area.draw_text(high, &text_at(size, HPos::Right, VPos::Top), (x + w, below))?;
    if signed {
        area.draw_text("0", &text_at(size, HPos::Center, VPos::Top), (x + w / 2, below))?;
    }
    Ok(())
}

/// A number with a few significant digits, for scales: 0.523, 12.4, 3.1e-5.
pub fn short_number(v: f32) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if !(1e-3..1e4).contains(&a) {
        format!("{v:.1e}")
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}
