//! `lenet convolve --caption`: a convolution's result as a figure that explains itself: the input
//! and the result side by side at one scale (so a result without padding is visibly smaller),
//! enlarged, and under them a caption: the kernel (its name, rows and what it does, from
//! `convolve::Kernel::describe`), the stride and padding, and what the grays of the result mean
//! (`convolve::GrayScale`: mid-gray is 0 for a signed result).

use super::{Picture, gray, outline_rect, text, text_size};
use crate::Result;
use crate::convolve::{GrayScale, Kernel, Plane};
use plotters::style::RGBColor;

const MARGIN: i32 = 16;
const GAP: i32 = 40;
const TITLE: u32 = 14;
const CAPTION: u32 = 13;
const LINE: i32 = 19;
/// The input's longer side is drawn about this many pixels long.
const SIDE: f32 = 256.0;
/// At most this many pixels per image pixel.
const MOST: f32 = 12.0;
const MIN_WIDTH: i32 = 560;

/// Figure pixels per image pixel for an input of this size: a whole number up to `MOST` when
/// the input is at most `SIDE` pixels long, else a fraction that shrinks it to that.
pub fn scale(input: &Plane) -> f32 {
    let side = input.width.max(input.height).max(1) as f32;
    if side <= SIDE { (SIDE / side).floor().clamp(1.0, MOST) } else { SIDE / side }
}

/// `text` cut into lines at most `width` pixels wide at `size`, at spaces.
fn wrap(text: &str, width: i32, size: u32) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let candidate = if line.is_empty() { word.to_string() } else { format!("{line} {word}") };
        if !line.is_empty() && text_size(&candidate, size).0 as i32 > width {
            lines.push(std::mem::replace(&mut line, word.to_string()));
        } else {
            line = candidate;
        }
    }
    lines.push(line);
    lines
}

/// The figure of `output`, `input` convolved with `kernel` at `stride` and `padding`.
pub fn draw(
    input: &Plane,
    output: &Plane,
    kernel: &Kernel,
    stride: usize,
    padding: usize,
) -> Result<Picture> {
    let s = scale(input);
    let size = |p: &Plane| {
        (((p.width as f32 * s).round() as i32).max(1), ((p.height as f32 * s).round() as i32).max(1))
    };
    let (in_w, in_h) = size(input);
    let (out_w, out_h) = size(output);
    let titles = [
        format!("input {}x{} (black 0, white 1)", input.width, input.height),
        format!("result {}x{}", output.width, output.height),
    ];
    // Each image's column is as wide as the image or its title.
    let column = |w: i32, title: &str| w.max(text_size(title, TITLE).0 as i32);
    let out_x = MARGIN + column(in_w, &titles[0]) + GAP;
    let width = (out_x + column(out_w, &titles[1]) + MARGIN).max(MIN_WIDTH);
    let grays = GrayScale::of(output);
    let mut caption = wrap(&format!("kernel {}", kernel.describe()), width - 2 * MARGIN, CAPTION);
    caption.extend(wrap(
        &format!("stride {stride}, padding {padding}; in the result, {}", grays.describe()),
        width - 2 * MARGIN,
        CAPTION,
    ));
    let top = MARGIN + TITLE as i32 + 8;
    let below = top + in_h.max(out_h) + 14;
    let height = below + caption.len() as i32 * LINE + MARGIN;
    Picture::draw(width as u32, height as u32, |area| {
        let tiles = [(input, true, MARGIN, (in_w, in_h)), (output, false, out_x, (out_w, out_h))];
        for ((plane, is_input, x0, (w, h)), title) in tiles.into_iter().zip(&titles) {
            area.draw_text(title, &text(TITLE), (x0, MARGIN))?;
            for y in 0..h {
                let row = ((y as f32 / s) as usize).min(plane.height - 1);
                for x in 0..w {
                    let col = ((x as f32 / s) as usize).min(plane.width - 1);
                    let v = plane.values[row * plane.width + col];
                    let color = if is_input {
                        gray(v)
                    } else {
                        let g = grays.gray(v);
                        RGBColor(g, g, g)
                    };
                    area.draw_pixel((x0 + x, top + y), &color)?;
                }
            }
            outline_rect(area, (x0, top), (w, h), RGBColor(160, 160, 160))?;
        }
        for (i, line) in caption.iter().enumerate() {
            area.draw_text(line, &text(CAPTION), (MARGIN, below + i as i32 * LINE))?;
        }
        Ok(())
    })
}
