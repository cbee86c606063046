//! `lenet show kernels`: every learned kernel of every convolution, one panel per conv layer
//! side by side. In a panel, row o and column i hold the kernel that output channel o applies to
//! input channel i, each weight an upscaled square: blue negative, white 0, red positive, on one
//! symmetric scale per layer (its largest magnitude), stated under the title. A kernel is drawn
//! about [`KERNEL_SIDE`] pixels a side (conv1's 5x5 kernels: 20 pixels a weight), times the
//! `scale` of [`draw_scaled`].
//!
//! A first convolution reading a colour image (3 channels: R, G, B) is drawn in colour instead:
//! one cell per output channel, each pixel the kernel's three weights at that place as red, green
//! and blue, mid-gray for 0 (as AlexNet's paper shows its first layer), so the colours a kernel
//! looks for show as colours.

use super::{Picture, color_bar, diverging, fill_rect, magnitude, short_number, text, text_at, text_size};
use crate::model::{Layer, Parameters, Plan, PlannedLayer};
use crate::{Error, Result};
use plotters::style::RGBColor;
use plotters::style::text_anchor::{HPos, VPos};

/// Rows or columns drawn at most per layer (a wider layer shows its first ones and says so).
pub const MAX_CHANNELS: usize = 64;
const MARGIN: i32 = 16;
const PANEL_GAP: i32 = 40;
const CELL_GAP: i32 = 8;
const LABEL_W: i32 = 26;
const LABEL_H: i32 = 16;
const TITLE: u32 = 16;
const SMALL: u32 = 12;
const BAR_H: i32 = 10;
/// A kernel's longer side in pixels at scale 1.
pub const KERNEL_SIDE: i32 = 100;
/// The largest picture [`draw_scaled`] makes, in pixels.
const MAX_PIXELS: i64 = 64 << 20;

/// Pixels per weight for a kernel `kh` x `kw` at `scale`: about [`KERNEL_SIDE`] x `scale` on its
/// longer side, at least 1.
pub fn weight_pixels(kh: usize, kw: usize, scale: f32) -> i32 {
    let base = KERNEL_SIDE as f32 / kh.max(kw).max(1) as f32;
    ((base.clamp(2.0, 24.0) * scale).round() as i32).max(1)
}

/// One conv layer's panel, measured.
struct Panel<'a> {
    weights: &'a [f32],
    /// (output channels, input channels, kernel height, kernel width)
    shape: (usize, usize, usize, usize),
    rows: usize,
    cols: usize,
    /// Pixels per weight.
    px: i32,
    /// Each kernel's three input channels drawn as one RGB cell.
    rgb: bool,
    title: String,
    subtitle: String,
    width: i32,
    height: i32,
}

fn header_height() -> i32 {
    TITLE as i32 + 6 + SMALL as i32 + 6 + BAR_H + SMALL as i32 + 10
}

/// `reads_image`: whether the layer's input is the network's (whose 3 channels are colours).
fn panel<'a>(
    layer: &'a PlannedLayer,
    params: &'a Parameters,
    scale: f32,
    reads_image: bool,
) -> Option<Panel<'a>> {
    let Layer::Conv2d { out_channels, kernel_h: kh, kernel_w: kw, .. } = layer.layer else { return None };
    let (offset, len) = layer.weight?;
    let in_channels = layer.input.channels;
    let rgb = reads_image && in_channels == 3;
    let shown_inputs = if rgb { 1 } else { in_channels };
    let (rows, cols) = (out_channels.min(MAX_CHANNELS), shown_inputs.min(MAX_CHANNELS));
    let px = weight_pixels(kh, kw, scale);
    let title = if in_channels == 1 {
        format!("{}: {out_channels} kernels {kh}x{kw}", layer.name)
    } else {
        format!("{}: {out_channels} kernels {in_channels}x{kh}x{kw}", layer.name)
    };
    let mut subtitle = match rgb {
        true => "rows: output; R, G, B weights as colours, gray 0".to_string(),
        false => "rows: output, columns: input channel".to_string(),
    };
    if rows < out_channels || cols < shown_inputs {
        subtitle.push_str(&format!(" (first {MAX_CHANNELS} shown)"));
    }
    let (cell_w, cell_h) = (kw as i32 * px + CELL_GAP, kh as i32 * px + CELL_GAP);
    let grid_w = LABEL_W + cols as i32 * cell_w;
    let width = [grid_w, text_size(&title, TITLE).0 as i32, text_size(&subtitle, SMALL).0 as i32, 160]
        .into_iter()
        .max()
        .unwrap_or(grid_w);
    let height = header_height() + LABEL_H + rows as i32 * cell_h;
    Some(Panel {
        weights: &params.values[offset..offset + len],
        shape: (out_channels, in_channels, kh, kw),
        rows,
        cols,
        px,
        rgb,
        title,
        subtitle,
        width,
        height,
    })
}

/// The kernels of every conv layer of `plan`, with weights from `params`, at scale 1.
pub fn draw(plan: &Plan, params: &Parameters) -> Result<Picture> {
    draw_scaled(plan, params, 1.0)
}

/// The same, every kernel `scale` times as large (0.5: half, 2: twice).
pub fn draw_scaled(plan: &Plan, params: &Parameters, scale: f32) -> Result<Picture> {
    if params.values.len() != plan.parameter_count {
        return Err(Error::InvalidArgument("the parameters do not match the network".into()));
    }
    if !(scale.is_finite() && scale > 0.0) {
        return Err(Error::InvalidArgument(format!("the scale must be a positive number, not {scale}")));
    }
    let panels: Vec<Panel> =
        plan.layers.iter().enumerate().filter_map(|(i, l)| panel(l, params, scale, i == 0)).collect();
    if panels.is_empty() {
        return Err(Error::InvalidArgument("the network has no convolution layers".into()));
    }
    let width =
        2 * MARGIN + panels.iter().map(|p| p.width).sum::<i32>() + PANEL_GAP * (panels.len() as i32 - 1);
    let height = 2 * MARGIN + panels.iter().map(|p| p.height).max().unwrap_or(0);
    if i64::from(width) * i64::from(height) > MAX_PIXELS {
        return Err(Error::InvalidArgument(format!(
            "at scale {scale} the picture would be {width}x{height} pixels, over {} megapixels",
            MAX_PIXELS >> 20
        )));
    }
    Picture::draw(width as u32, height as u32, |area| {
        let mut x = MARGIN;
        for p in &panels {
            draw_panel(area, p, (x, MARGIN))?;
            x += p.width + PANEL_GAP;
        }
        Ok(())
    })
}

fn draw_panel(
    area: &super::Area,
    p: &Panel,
    (x0, y0): (i32, i32),
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let (_, in_channels, kh, kw) = p.shape;
    let scale = magnitude(p.weights);
    let mut y = y0;
    area.draw_text(&p.title, &text(TITLE), (x0, y))?;
    y += TITLE as i32 + 6;
    area.draw_text(&p.subtitle, &text(SMALL), (x0, y))?;
    y += SMALL as i32 + 6;
    let (low, high) = (short_number(-scale), format!("+{}", short_number(scale)));
    if p.rgb {
        let gray = |t: f32| colour([t, t, t]);
        color_bar(area, (x0, y), (160, BAR_H), true, &gray, &low, &high, SMALL)?;
    } else {
        color_bar(area, (x0, y), (160, BAR_H), true, &diverging, &low, &high, SMALL)?;
    }
    y = y0 + header_height();
    let (cell_w, cell_h) = (kw as i32 * p.px + CELL_GAP, kh as i32 * p.px + CELL_GAP);
    let grid_x = x0 + LABEL_W;
    for i in 0..p.cols {
        let cx = grid_x + i as i32 * cell_w + (cell_w - CELL_GAP) / 2;
        area.draw_text(&i.to_string(), &text_at(SMALL, HPos::Center, VPos::Top), (cx, y))?;
    }
    y += LABEL_H;
    for o in 0..p.rows {
        let cy = y + o as i32 * cell_h;
        let label_at = (grid_x - 6, cy + (cell_h - CELL_GAP) / 2);
        area.draw_text(&o.to_string(), &text_at(SMALL, HPos::Right, VPos::Center), label_at)?;
        for i in 0..p.cols {
            let cx = grid_x + i as i32 * cell_w;
            let plane = kh * kw;
            for k in 0..plane {
                let (r, c) = ((k / kw) as i32, (k % kw) as i32);
                let fill = match p.rgb {
                    true => colour([0, 1, 2].map(|ch| p.weights[(o * in_channels + ch) * plane + k] / scale)),
                    false => diverging(p.weights[(o * in_channels + i) * plane + k] / scale),
                };
                fill_rect(area, (cx + c * p.px, cy + r * p.px), (p.px, p.px), fill)?;
            }
            super::outline_rect(
                area,
                (cx, cy),
                (kw as i32 * p.px, kh as i32 * p.px),
                RGBColor(200, 200, 200),
            )?;
        }
    }
    Ok(())
}

/// Three weights in [-1, 1] (a layer's largest magnitude is 1) as red, green and blue: 0 is
/// mid-gray, +1 full, -1 none.
pub fn colour(rgb: [f32; 3]) -> RGBColor {
    let [r, g, b] = rgb.map(|t| {
        let t = if t.is_nan() { 0.0 } else { t.clamp(-1.0, 1.0) };
        (127.5 + 127.5 * t).round() as u8
    });
    RGBColor(r, g, b)
}
