//! `lenet show features`: everything the network computes for one input, one labelled row per
//! layer: the input, each feature map of each conv and pool layer as an upscaled tile, each
//! dense layer's outputs as a strip of cells, and the softmax probabilities of the classes.
//!
//! Values are shown as the engine returns them (`Engine::activations`: a layer followed by a
//! ReLU is shown after the ReLU). Each row has one scale for all its maps, stated in its label:
//! a row with no negative value runs from black (0) to white (its largest value); a row with
//! negative values from blue (-m) through white (0) to red (+m), m its largest magnitude.

use super::{Picture, diverging, fill_rect, gray, magnitude, outline_rect, short_number, text, text_at};
use crate::model::Plan;
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
/// Tiles are upscaled to about this many pixels on their longer side.
const TILE: i32 = 72;
/// Tiles are never shrunk below this many pixels on their longer side to avoid wrapping.
const MIN_TILE: i32 = 28;
const BAR_HEIGHT: i32 = 90;

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
}

const CELL_H: i32 = 24;

impl Row {
    fn new(label: String, values: Vec<f32>, maps: usize, h: usize, w: usize) -> Row {
        let signed = values.iter().any(|&v| v < 0.0);
        let scale = magnitude(&values);
        let (px, per_line) = if h == 1 && w == 1 {
            // A dense layer: one cell per value, as wide as fits, wrapping only when 2 px won't.
            let px = (ROW_WIDTH / maps.max(1) as i32).clamp(2, 48);
            (px, ((ROW_WIDTH / px) as usize).max(1))
        } else {
            // Shrink the tiles to fit the maps on one line, but not below MIN_TILE: wrap instead.
            let side = h.max(w) as i32;
            let mut px = (TILE / side).clamp(1, 12);
            let smallest = (MIN_TILE + side - 1) / side;
            let fits = |px: i32| (ROW_WIDTH + GAP) / (w as i32 * px + GAP);
            while px > smallest && (fits(px) as usize) < maps {
                px -= 1;
            }
            (px, (fits(px) as usize).max(1))
        };
        let range = if signed {
            format!("blue {} .. white 0 .. red +{}", short_number(-scale), short_number(scale))
        } else {
            format!("black 0 .. white {}", short_number(scale))
        };
        Row { label: format!("{label}   ({range})"), values, maps, h, w, px, per_line, signed, scale }
    }

    fn dense(&self) -> bool {
        self.h == 1 && self.w == 1
    }

    /// A short dense row (e.g. the logits) has each cell's index under it.
    fn labelled(&self) -> bool {
        self.dense() && self.lines() == 1 && self.px >= 20
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

    fn height(&self) -> i32 {
        let lines = self.lines() as i32;
        let labels = if self.labelled() { 16 } else { 0 };
        LABEL as i32 + 6 + lines * self.tile_size().1 + (lines - 1) * GAP + labels
    }

    fn color(&self, v: f32) -> RGBColor {
        if self.signed { diverging(v / self.scale) } else { gray(v / self.scale) }
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
            let (x, y) = (x0 + col * (tw + self.gap()), top + line * (th + GAP));
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
                outline_rect(area, (x0 + col * (tw + GAP), top + line * (th + GAP)), (tw, th), grey)?;
            }
        }
        Ok(())
    }
}

/// The softmax of `logits`, in f64 for a stable sum.
pub fn softmax(logits: &[f32]) -> Vec<f64> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f64> = logits.iter().map(|&z| f64::from(z - max).exp()).collect();
    let sum: f64 = exp.iter().sum();
    exp.iter().map(|e| e / sum).collect()
}

/// The figure for one input: `image` is its bytes as the network reads them (0 background, 255
/// ink, e.g. from `data::preprocess::load`), `activations` the engine's for that one image.
pub fn draw(plan: &Plan, image: &[u8], activations: &[LayerOutput]) -> Result<Picture> {
    let input = plan.input();
    if image.len() != input.len() {
        return Err(Error::InvalidArgument(format!(
            "the image has {} pixels but the network takes {input}",
            image.len()
        )));
    }
    let mut rows = vec![Row::new(
        format!("input {input}, as the network reads it"),
        image.iter().map(|&b| f32::from(b) / 255.0).collect(),
        input.channels,
        input.height,
        input.width,
    )];
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
        let label = format!("{} {shape}", layer_label(plan, a.layer));
        rows.push(Row::new(label, a.values.clone(), shape.channels, shape.height, shape.width));
    }
    let logits = activations.last().map(|a| a.values.as_slice()).unwrap_or_default();
    let probabilities = softmax(logits);
    let classes = probabilities.len();
    let bar_w = (ROW_WIDTH / classes.max(1) as i32).clamp(6, 48);
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
            "softmax probabilities: {best} ({:.1}%)",
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
            area.draw_text(&c.to_string(), &text_at(12, HPos::Center, VPos::Top), (center, base + 4))?;
            if bar_w >= 36 {
                let pct = format!("{:.0}%", 100.0 * p);
                area.draw_text(&pct, &text_at(11, HPos::Center, VPos::Bottom), (center, base - h - 2))?;
            }
        }
        Ok(())
    })
}
