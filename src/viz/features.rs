//! `lenet show features`: everything the network computes for one input, one labelled row per
//! layer: the input, each feature map of each conv and pool layer as an upscaled tile, each
//! dense layer's outputs as a strip of cells, and the softmax probabilities of the classes.
//!
//! Every feature map is drawn at one size per value ([`map_scale`]), so a 14x14 pooled map is
//! half as wide as the 28x28 map it came from; the input is drawn larger than any map
//! ([`input_scale`]), in the normalized values the network reads (its label gives their range).
//! Each map has its index under it.
//!
//! Values are shown as the engine returns them (`Engine::activations`: a layer followed by a
//! ReLU is shown after the ReLU). Each row has one colour scale for all its maps, stated in its
//! label: a row with no negative value runs from black (0) to white (its largest value); a row
//! with negative values from blue (-m) through white (0) to red (+m), m its largest magnitude.

use super::{Picture, diverging, fill_rect, gray, magnitude, outline_rect, short_number, text, text_at};
use crate::data::{GRAY, MEAN, Normalization, STD};
use crate::model::{Plan, Shape};
use crate::train::LayerOutput;
use crate::{Error, Result};
use plotters::style::RGBColor;
use plotters::style::text_anchor::{HPos, VPos};

/// The widest row of tiles, in pixels (wider rows wrap).
const ROW_WIDTH: i32 = 960;
const MARGIN: i32 = 16;
const GAP: i32 = 4;
const LABEL: u32 = 14;
const ROW_GAP: i32 = 14;
/// Pixels per value of the feature maps: at most this many, and never fewer than
/// [`MIN_MAP_PX`] (a row that does not fit then wraps).
const MAX_MAP_PX: i32 = 8;
const MIN_MAP_PX: i32 = 2;
/// The input is drawn about this many pixels on its longer side, and larger than every map.
const INPUT_SIDE: i32 = 224;
/// The map indices under the tiles.
const INDEX: u32 = 10;
const BAR_HEIGHT: i32 = 90;

/// The pixels per value every feature map is drawn at: the most (up to `MAX_MAP_PX`) at which
/// each row of `maps` (channels, height, width) fits on one line, but at least `MIN_MAP_PX`.
pub fn map_scale(maps: &[Shape]) -> i32 {
    maps.iter()
        .map(|s| {
            let n = s.channels.max(1) as i32;
            (ROW_WIDTH - (n - 1) * GAP) / (n * s.width.max(1) as i32)
        })
        .fold(MAX_MAP_PX, i32::min)
        .max(MIN_MAP_PX)
}

/// The pixels per value of the input: about `INPUT_SIDE` on its longer side, and more than
/// any map's (`map_px` per value, the longest map side `longest`), so the input is the largest.
pub fn input_scale(input: Shape, map_px: i32, longest: usize) -> i32 {
    let side = input.height.max(input.width).max(1) as i32;
    (INPUT_SIDE / side).max(map_px * longest as i32 / side + 1)
}

pub use crate::model::fusion::layer_label;

/// How a row of values is drawn: tiles of `h` x `w` (a dense layer: `h` = `w` = 1, one cell per
/// value), each weight `px` pixels wide, `per_line` to a line.
struct Row {
    label: String,
    values: Vec<f32>,
    maps: usize,
    h: usize,
    w: usize,
    /// Pixels per value (horizontally; dense cells are CELL_H high).
    px: i32,
    per_line: usize,
    signed: bool,
    scale: f32,
    /// A fixed gray scale (low black, high white) instead of the values' own.
    gray: Option<(f32, f32)>,
}

const CELL_H: i32 = 24;

impl Row {
    /// A row of `maps` maps of `h` x `w` values, drawn `px` pixels per value (ignored for a dense
    /// layer, `h` = `w` = 1), coloured on the row's own scale (`range` if given: (low, high) of a
    /// gray scale, else from the values).
    fn new(label: String, values: Vec<f32>, (maps, h, w): (usize, usize, usize), px: i32) -> Row {
        let signed = values.iter().any(|&v| v < 0.0);
        let scale = magnitude(&values);
        let (px, per_line) = if h == 1 && w == 1 {
            // A dense layer: one cell per value, as wide as fits, wrapping only when 2 px won't.
            let px = (ROW_WIDTH / maps.max(1) as i32).clamp(2, 48);
            (px, ((ROW_WIDTH / px) as usize).max(1))
        } else {
            (px, (((ROW_WIDTH + GAP) / (w as i32 * px + GAP)) as usize).max(1))
        };
        let range = if signed {
            format!("blue {} .. white 0 .. red +{}", short_number(-scale), short_number(scale))
        } else {
            format!("black 0 .. white {}", short_number(scale))
        };
        Row {
            label: format!("{label}   ({range})"),
            values,
            maps,
            h,
            w,
            px,
            per_line,
            signed,
            scale,
            gray: None,
        }
    }

    /// The input row: the bytes as the network reads them, normalized, on the fixed gray scale
    /// from the normalized 0 (black) to the normalized 255 (white).
    fn input(input: Shape, image: &[u8], px: i32) -> Row {
        let norm = Normalization::for_channels(input.channels);
        let plane = input.height * input.width;
        let values = image.iter().enumerate().map(|(i, &b)| norm.pixel(i / plane.max(1), b)).collect();
        // Every channel's normalized 0 and 255: the scale spans them all.
        let ends: Vec<f32> =
            (0..input.channels).flat_map(|c| [norm.pixel(c, 0), norm.pixel(c, 255)]).collect();
        let low = ends.iter().copied().fold(f32::INFINITY, f32::min);
        let high = ends.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut row = Row::new(String::new(), values, (input.channels, input.height, input.width), px);
        row.signed = false;
        row.gray = Some((low, high));
        let formula = match norm == GRAY {
            true => format!("(pixel / 255 - {MEAN}) / {STD}"),
            false => "(pixel / 255 - mean) / std, per channel".to_string(),
        };
        row.label = format!(
            "input {input}, as the network reads it: {formula}   (black {} .. white {})",
            short_number(low),
            short_number(high)
        );
        row
    }

    fn dense(&self) -> bool {
        self.h == 1 && self.w == 1
    }

    /// A short dense row (e.g. the logits) has each cell's index under it.
    fn labelled(&self) -> bool {
        self.dense() && self.lines() == 1 && self.px >= 20
    }

    /// Maps (of a conv or pool layer) have their index under them, when there is more than one.
    fn indexed(&self) -> bool {
        !self.dense() && self.maps > 1
    }

    fn tile_size(&self) -> (i32, i32) {
        if self.dense() { (self.px, CELL_H) } else { (self.w as i32 * self.px, self.h as i32 * self.px) }
    }

    fn gap(&self) -> i32 {
        if self.dense() { 0 } else { GAP }
    }

    fn lines(&self) -> usize {
        self.maps.div_ceil(self.per_line)
    }

    fn width(&self) -> i32 {
        let n = self.maps.min(self.per_line) as i32;
        n * self.tile_size().0 + (n - 1).max(0) * self.gap()
    }

    /// A line of tiles with what is under it (the indices).
    fn line_height(&self) -> i32 {
        self.tile_size().1 + if self.indexed() { INDEX as i32 + 4 } else { 0 }
    }

    fn height(&self) -> i32 {
        let lines = self.lines() as i32;
        let labels = if self.labelled() { 16 } else { 0 };
        LABEL as i32 + 6 + lines * self.line_height() + (lines - 1) * GAP + labels
    }

    fn color(&self, v: f32) -> RGBColor {
        match self.gray {
            Some((low, high)) => gray((v - low) / (high - low)),
            None if self.signed => diverging(v / self.scale),
            None => gray(v / self.scale),
        }
    }

    fn draw(
        &self,
        area: &super::Area,
        (x0, y0): (i32, i32),
    ) -> std::result::Result<(), Box<dyn std::error::Error>> {
        area.draw_text(&self.label, &text(LABEL), (x0, y0))?;
        let top = y0 + LABEL as i32 + 6;
        let (tw, th) = self.tile_size();
        let per_map = self.h * self.w;
        for m in 0..self.maps {
            let (line, col) = ((m / self.per_line) as i32, (m % self.per_line) as i32);
            let (x, y) = (x0 + col * (tw + self.gap()), top + line * (self.line_height() + GAP));
            let map = &self.values[m * per_map..(m + 1) * per_map];
            if self.dense() {
                fill_rect(area, (x, y), (tw, th), self.color(map[0]))?;
            } else {
                for (k, &v) in map.iter().enumerate() {
                    let (r, c) = ((k / self.w) as i32, (k % self.w) as i32);
                    fill_rect(area, (x + c * self.px, y + r * self.px), (self.px, self.px), self.color(v))?;
                }
            }
        }
        let grey = RGBColor(190, 190, 190);
        if self.labelled() {
            for m in 0..self.maps {
                let center = (x0 + m as i32 * tw + tw / 2, top + th + 3);
                area.draw_text(&m.to_string(), &text_at(11, HPos::Center, VPos::Top), center)?;
            }
        }
        if self.dense() {
            for line in 0..self.lines() as i32 {
                let n = (self.maps - line as usize * self.per_line).min(self.per_line) as i32;
                outline_rect(area, (x0, top + line * (th + GAP)), (n * tw, th), grey)?;
            }
        } else {
            for m in 0..self.maps {
                let (line, col) = ((m / self.per_line) as i32, (m % self.per_line) as i32);
                let (x, y) = (x0 + col * (tw + GAP), top + line * (self.line_height() + GAP));
                outline_rect(area, (x, y), (tw, th), grey)?;
                if self.indexed() {
                    let style = text_at(INDEX, HPos::Center, VPos::Top).color(&RGBColor(90, 90, 90));
                    area.draw_text(&m.to_string(), &style, (x + tw / 2, y + th + 3))?;
                }
            }
        }
        Ok(())
    }
}

/// The figure for one input: `image` is its bytes as the network reads them (0 background, 255
/// ink, e.g. from `data::preprocess::load`), `activations` the engine's for that one image; the
/// classes are labelled by `class_name` ("7", or "cat").
pub fn draw(
    plan: &Plan,
    image: &[u8],
    activations: &[LayerOutput],
    class_name: &dyn Fn(usize) -> String,
) -> Result<Picture> {
    let input = plan.input();
    if image.len() != input.len() {
        return Err(Error::InvalidArgument(format!(
            "the image has {} pixels but the network takes {input}",
            image.len()
        )));
    }
    let mut shapes = Vec::with_capacity(activations.len());
    for a in activations {
        let shape = plan
            .layers
            .get(a.layer)
            .ok_or_else(|| Error::InvalidArgument(format!("no layer {} in the network", a.layer)))?
            .output;
        if a.values.len() != shape.len() {
            return Err(Error::InvalidArgument(format!(
                "layer {} gave {} values for one image, not {shape}",
                a.layer,
                a.values.len()
            )));
        }
        shapes.push(shape);
    }
    let maps: Vec<Shape> = shapes.iter().copied().filter(|s| s.height * s.width > 1).collect();
    let map_px = map_scale(&maps);
    let longest = maps.iter().map(|s| s.height.max(s.width)).max().unwrap_or(0);
    let mut rows = vec![Row::input(input, image, input_scale(input, map_px, longest))];
    for (a, shape) in activations.iter().zip(shapes) {
        let label = format!("{} {shape}", layer_label(plan, a.layer));
        rows.push(Row::new(label, a.values.clone(), (shape.channels, shape.height, shape.width), map_px));
    }
    let logits = activations.last().map(|a| a.values.as_slice()).unwrap_or_default();
    let probabilities = crate::train::evaluation::softmax(logits);
    let classes = probabilities.len();
    let names: Vec<String> = (0..classes).map(class_name).collect();
    let longest = names.iter().map(|name| super::text_size(name, 12).0 as i32).max().unwrap_or(0);
    // Wide enough for every name under its bar, where there are few classes.
    let bar_w =
        (ROW_WIDTH / classes.max(1) as i32).clamp(6, 48).max(if classes <= 12 { longest + 8 } else { 0 });
    let chart_h = LABEL as i32 + 10 + 14 + BAR_HEIGHT + 4 + 14;
    let width =
        2 * MARGIN + rows.iter().map(Row::width).max().unwrap_or(0).max(classes as i32 * bar_w).max(560);
    let height = 2 * MARGIN + rows.iter().map(|r| r.height() + ROW_GAP).sum::<i32>() + chart_h;
    let best = (0..classes).max_by(|&a, &b| probabilities[a].total_cmp(&probabilities[b])).unwrap_or(0);
    Picture::draw(width as u32, height as u32, |area| {
        let mut y = MARGIN;
        for row in &rows {
            row.draw(area, (MARGIN, y))?;
            y += row.height() + ROW_GAP;
        }
        let title = format!(
            "softmax probabilities: {} ({:.1}%)",
            names.get(best).map_or("", String::as_str),
            100.0 * probabilities.get(best).unwrap_or(&0.0)
        );
        area.draw_text(&title, &text(LABEL), (MARGIN, y))?;
        let base = y + LABEL as i32 + 10 + 14 + BAR_HEIGHT;
        for (c, &p) in probabilities.iter().enumerate() {
            let x = MARGIN + c as i32 * bar_w;
            let h = (p * BAR_HEIGHT as f64).round() as i32;
            let color = if c == best { RGBColor(178, 24, 43) } else { RGBColor(33, 102, 172) };
            if h > 0 {
                fill_rect(area, (x + 2, base - h), (bar_w - 4, h), color)?;
            }
            area.draw(&plotters::element::PathElement::new(
                vec![(x, base), (x + bar_w - 1, base)],
                RGBColor(120, 120, 120),
            ))?;
            let center = x + bar_w / 2;
            area.draw_text(&names[c], &text_at(12, HPos::Center, VPos::Top), (center, base + 4))?;
            if bar_w >= 36 {
                let pct = format!("{:.0}%", 100.0 * p);
                area.draw_text(&pct, &text_at(11, HPos::Center, VPos::Bottom), (center, base - h - 2))?;
            }
        }
        Ok(())
    })
}
