//! `lenet eval --misclassified`: a gallery of the test images the network got wrong, the most
//! confident mistakes first, at most [`MAX_SHOWN`] of them. Each image is drawn as the network
//! reads it (28x28 bytes, white ink on black, [`SCALE`] pixels a pixel), with its label and the
//! prediction, with its probability, under it. The title says how many there were in all.

use super::{Picture, fill_rect, gray, outline_rect, text, text_at, text_size};
use crate::Result;
use crate::data::Dataset;
use crate::train::evaluation::Mistake;
use plotters::style::RGBColor;
use plotters::style::text_anchor::{HPos, VPos};

/// The most mistakes drawn (the first ones given: the most confident).
pub const MAX_SHOWN: usize = 100;
/// Screen pixels per image pixel.
pub const SCALE: i32 = 3;
/// Tiles per row, at most.
pub const COLUMNS: usize = 10;
const MARGIN: i32 = 16;
const TITLE: u32 = 16;
const SMALL: u32 = 12;
const LABEL: u32 = 11;
const GAP: i32 = 14;

/// Where everything goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// How many mistakes are drawn.
    pub shown: usize,
    pub columns: usize,
    pub rows: usize,
    /// A tile's size: the image, its two lines of text and the gap after them.
    pub tile: (i32, i32),
    /// The side of an image, in pixels.
    pub image_side: i32,
    /// The top left corner of the first tile.
    pub origin: (i32, i32),
    /// The picture's size.
    pub size: (i32, i32),
}

impl Layout {
    /// The top left corner of the `i`-th image drawn (centered over its captions).
    pub fn image_at(&self, i: usize) -> (i32, i32) {
        let (column, row) = ((i % self.columns) as i32, (i / self.columns) as i32);
        let inset = (self.tile.0 - GAP - self.image_side) / 2;
        (self.origin.0 + column * self.tile.0 + inset, self.origin.1 + row * self.tile.1)
    }
}

/// The two lines under a mistake's image.
fn captions(m: &Mistake, class_name: &dyn Fn(usize) -> String) -> [String; 2] {
    // Rounded down, so that a mistake never reads as certain ("100.0%").
    let percent = (m.confidence * 1000.0).floor() / 10.0;
    [
        format!("label {}", class_name(m.label as usize)),
        format!("predicted {} ({percent:.1}%)", class_name(m.predicted as usize)),
    ]
}

fn titles(data: &Dataset, mistakes: &[Mistake]) -> [String; 2] {
    let (wrong, total) = (mistakes.len(), data.len());
    let title = format!("{wrong} of {total} test images misclassified ({:.2}%)", percent(wrong, total));
    let subtitle = match wrong {
        0 => "nothing to show".to_string(),
        n if n > MAX_SHOWN => format!(
            "the {MAX_SHOWN} most confident mistakes, most confident first; under each: its label, then the prediction and its probability"
        ),
        _ => {
            "most confident first; under each: its label, then the prediction and its probability".to_string()
        }
    };
    [title, subtitle]
}

fn percent(part: usize, whole: usize) -> f64 {
    100.0 * part as f64 / whole.max(1) as f64
}

/// The layout of the gallery of `mistakes` (sorted, most confident first) among `data`.
pub fn layout(data: &Dataset, mistakes: &[Mistake], class_name: &dyn Fn(usize) -> String) -> Layout {
    let shown = mistakes.len().min(MAX_SHOWN);
    let image_side = data.cols.max(data.rows) as i32 * SCALE;
    let widest = mistakes[..shown]
        .iter()
        .flat_map(|m| captions(m, class_name))
        .map(|line| text_size(&line, LABEL).0 as i32)
        .fold(image_side, i32::max);
    let tile = (widest + GAP, image_side + 4 + 2 * (LABEL as i32 + 3) + GAP);
    let columns = shown.clamp(1, COLUMNS);
    let rows = shown.div_ceil(columns);
    let origin = (MARGIN, MARGIN + TITLE as i32 + 6 + SMALL as i32 + 14);
    let [title, subtitle] = titles(data, mistakes);
    let heading = (text_size(&title, TITLE).0).max(text_size(&subtitle, SMALL).0) as i32;
    let width = (columns as i32 * tile.0 - GAP).max(heading) + 2 * MARGIN;
    let height = origin.1 + rows as i32 * tile.1 - GAP + MARGIN;
    Layout { shown, columns, rows, tile, image_side, origin, size: (width, height) }
}

/// The gallery of `mistakes` (as `evaluation::mistakes` sorts them) among the images of `data`,
/// classes named by `class_name`.
pub fn draw(data: &Dataset, mistakes: &[Mistake], class_name: &dyn Fn(usize) -> String) -> Result<Picture> {
    let at = layout(data, mistakes, class_name);
    let [title, subtitle] = titles(data, mistakes);
    Picture::draw(at.size.0 as u32, at.size.1 as u32, |area| {
        area.draw_text(&title, &text(TITLE), (MARGIN, MARGIN))?;
        area.draw_text(&subtitle, &text(SMALL), (MARGIN, MARGIN + TITLE as i32 + 6))?;
        for (i, m) in mistakes[..at.shown].iter().enumerate() {
            let (x, y) = at.image_at(i);
            let image = data.image(m.index);
            let plane = data.rows * data.cols;
            for p in 0..plane {
                let (px, py) = ((p % data.cols) as i32, (p / data.cols) as i32);
                // Colour images (R, G, B planes) in colour, gray ones as they are.
                let color = match data.channels {
                    3 => RGBColor(image[p], image[plane + p], image[2 * plane + p]),
                    _ => gray(image[p] as f32 / 255.0),
                };
                fill_rect(area, (x + px * SCALE, y + py * SCALE), (SCALE, SCALE), color)?;
            }
            outline_rect(area, (x, y), (at.image_side, at.image_side), RGBColor(200, 200, 200))?;
            let center = x + at.image_side / 2;
            let mut line_y = y + at.image_side + 4;
            for (line, color) in
                captions(m, class_name).iter().zip([RGBColor(0, 0, 0), RGBColor(178, 24, 43)])
            {
                area.draw_text(
                    line,
                    &text_at(LABEL, HPos::Center, VPos::Top).color(&color),
                    (center, line_y),
                )?;
                line_y += LABEL as i32 + 3;
            }
        }
        Ok(())
    })
}
