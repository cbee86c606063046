//! The drawing surface every figure uses: plotters' bitmap backend, with the text drawn here.
//!
//! plotters 0.3.7 draws `ab_glyph` text (`style/font/ab_glyph.rs`) by placing each glyph's
//! rasterized bitmap at the pen position, but `OutlinedGlyph::draw` reports pixels relative to
//! the glyph's pixel bounds, which start at its left side bearing: plotters drops that bearing
//! (and truncates the pen to whole pixels, and each glyph's baseline separately). Every glyph is
//! thus shifted left by its own bearing, so the gap between two letters is the first one's two
//! bearings instead of its right bearing plus the next one's left: "m ean", "softm ax", "1 0.7".
//! [`Canvas`] passes everything else to the bitmap backend and lays text out itself: each glyph
//! at its pen position (kerning included, subpixel), drawn at its pixel bounds, all on one
//! baseline.

use ab_glyph::{Font, FontRef, GlyphId, PxScale, ScaleFont, point};
use plotters::prelude::BitMapBackend;
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingBackend, DrawingErrorKind,
    FontTransform,
};

/// The built-in font, parsed once (`None` if it could not be read).
fn font() -> Option<&'static FontRef<'static>> {
    static FONT: std::sync::OnceLock<Option<FontRef<'static>>> = std::sync::OnceLock::new();
    FONT.get_or_init(|| FontRef::try_from_slice(super::FONT).ok()).as_ref()
}

/// One line of text laid out at a size: each glyph with its pen position from the left edge,
/// the advance width, and the ascent and descent (negative) around the baseline, in pixels.
/// `size` is the height from the lowest descent to the highest ascent, as in plotters.
pub struct Line {
    pub glyphs: Vec<(GlyphId, f32)>,
    pub width: f32,
    pub ascent: f32,
    pub descent: f32,
    scale: PxScale,
}

impl Line {
    pub fn new(text: &str, size: f64) -> Option<Line> {
        let font = font()?;
        let scale = PxScale::from(size as f32);
        let scaled = font.as_scaled(scale);
        let mut glyphs = Vec::with_capacity(text.len());
        let mut pen = 0.0f32;
        let mut previous: Option<GlyphId> = None;
        for c in text.chars() {
            let id = scaled.glyph_id(c);
            if let Some(p) = previous {
                pen += scaled.kern(p, id);
            }
            glyphs.push((id, pen));
            pen += scaled.h_advance(id);
            previous = Some(id);
        }
        Some(Line { glyphs, width: pen, ascent: scaled.ascent(), descent: scaled.descent(), scale })
    }

    /// The box plotters aligns and reserves room for: the advance width by the full height.
    pub fn size(&self) -> (u32, u32) {
        (self.width.ceil() as u32, (self.ascent - self.descent).ceil() as u32)
    }

    /// Calls `pixel(x, y, coverage)` for every pixel the text covers, the box's top left at
    /// (`x0`, `y0`) (fractions allowed).
    pub fn rasterize(&self, (x0, y0): (f32, f32), mut pixel: impl FnMut(i32, i32, f32)) {
        let Some(font) = font() else { return };
        for &(id, pen) in &self.glyphs {
            let glyph = id.with_scale_and_position(self.scale, point(x0 + pen, y0 + self.ascent));
            if let Some(outline) = font.outline_glyph(glyph) {
                let bounds = outline.px_bounds();
                let (left, top) = (bounds.min.x as i32, bounds.min.y as i32);
                outline.draw(|x, y, c| pixel(left + x as i32, top + y as i32, c.min(1.0)));
            }
        }
    }
}

/// Plotters' bitmap backend with text laid out by [`Line`].
pub struct Canvas<'a> {
    bitmap: BitMapBackend<'a>,
}

impl<'a> Canvas<'a> {
    pub fn new(bitmap: BitMapBackend<'a>) -> Canvas<'a> {
        Canvas { bitmap }
    }
}

type Failure<'a> = DrawingErrorKind<<BitMapBackend<'a> as DrawingBackend>::ErrorType>;

impl<'a> DrawingBackend for Canvas<'a> {
    type ErrorType = <BitMapBackend<'a> as DrawingBackend>::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.bitmap.get_size()
    }

    fn ensure_prepared(&mut self) -> Result<(), Failure<'a>> {
        self.bitmap.ensure_prepared()
    }

    fn present(&mut self) -> Result<(), Failure<'a>> {
        self.bitmap.present()
    }

    fn draw_pixel(&mut self, point: BackendCoord, color: BackendColor) -> Result<(), Failure<'a>> {
        self.bitmap.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), Failure<'a>> {
        self.bitmap.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), Failure<'a>> {
        self.bitmap.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), Failure<'a>> {
        self.bitmap.draw_path(path, style)
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), Failure<'a>> {
        self.bitmap.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), Failure<'a>> {
        self.bitmap.fill_polygon(vert, style)
    }

    fn blit_bitmap(&mut self, pos: BackendCoord, size: (u32, u32), src: &[u8]) -> Result<(), Failure<'a>> {
        self.bitmap.blit_bitmap(pos, size, src)
    }

    fn estimate_text_size<S: BackendTextStyle>(
        &self,
        text: &str,
        style: &S,
    ) -> Result<(u32, u32), Failure<'a>> {
        match Line::new(text, style.size()) {
            Some(line) => Ok(line.size()),
            None => self.bitmap.estimate_text_size(text, style),
        }
    }

    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> Result<(), Failure<'a>> {
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let Some(line) = Line::new(text, style.size()) else {
            return self.bitmap.draw_text(text, style, pos);
        };
        // The box's top left relative to the anchor, in whole pixels so that an anchored
        // text sits on the same pixel grid whatever its width.
        let (w, h) = line.size();
        let (w, h) = (w as i32, h as i32);
        let dx = match style.anchor().h_pos {
            HPos::Left => 0,
            HPos::Center => -w / 2,
            HPos::Right => -w,
        };
        let dy = match style.anchor().v_pos {
            VPos::Top => 0,
            VPos::Center => -h / 2,
            VPos::Bottom => -h,
        };
        let transform = style.transform();
        let (width, height) = self.bitmap.get_size();
        let mut result = Ok(());
        line.rasterize((dx as f32, dy as f32), |x, y, coverage| {
            if result.is_err() || coverage <= 0.0 {
                return;
            }
            let (x, y) = rotate(&transform, x, y);
            let (x, y) = (pos.0 + x, pos.1 + y);
            if x >= 0 && y >= 0 && (x as u32) < width && (y as u32) < height {
                let ink = BackendColor { alpha: color.alpha * f64::from(coverage), rgb: color.rgb };
                result = self.bitmap.draw_pixel((x, y), ink);
            }
        });
        result
    }
}

/// `(x, y)` turned as plotters' `FontTransform::transform` does.
fn rotate(transform: &FontTransform, x: i32, y: i32) -> (i32, i32) {
    match transform {
        FontTransform::None => (x, y),
        FontTransform::Rotate90 => (-y, x),
        FontTransform::Rotate180 => (-x, -y),
        FontTransform::Rotate270 => (y, -x),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::viz::{Picture, text};

    /// The columns of `picture` holding ink (any pixel darker than white).
    fn inked_columns(picture: &Picture) -> Vec<bool> {
        let (w, h) = (picture.width as usize, picture.height as usize);
        (0..w).map(|x| (0..h).any(|y| picture.rgb[(y * w + x) * 3] < 200)).collect()
    }

    /// The widths of the blank runs between inked columns.
    fn gaps(columns: &[bool]) -> Vec<usize> {
        let first = columns.iter().position(|&c| c).unwrap_or(0);
        let last = columns.iter().rposition(|&c| c).unwrap_or(0);
        let mut gaps = Vec::new();
        let mut run = 0;
        for &c in &columns[first..=last] {
            if c {
                if run > 0 {
                    gaps.push(run);
                }
                run = 0;
            } else {
                run += 1;
            }
        }
        gaps
    }

    /// The font's blank space between the ink of `a` and of `b` set side by side at `size`: the
    /// right side bearing of `a`, the kerning, the left side bearing of `b`.
    fn expected_gap(a: char, b: char, size: f32) -> f32 {
        let font = font().unwrap().as_scaled(PxScale::from(size));
        let ink = |c: char| font.outline_glyph(font.scaled_glyph(c)).unwrap().px_bounds();
        let (ga, gb) = (font.glyph_id(a), font.glyph_id(b));
        let right_bearing = font.h_advance(ga) - font.h_side_bearing(ga) - ink(a).width();
        right_bearing + font.kern(ga, gb) + font.h_side_bearing(gb)
    }

    #[test]
    fn letters_are_spaced_by_their_bearings() {
        // Pairs whose left bearings differ widely in DejaVu Sans: plotters' own text gave "i t",
        // "m ean", "1 0.7".
        for pair in ["it", "me", "ma", "10", "ll", "ri"] {
            let size = 80u32;
            let picture = Picture::draw(200, 120, |area| {
                area.draw_text(pair, &text(size), (20, 10))?;
                Ok(())
            })
            .unwrap();
            let mut chars = pair.chars();
            let (a, b) = (chars.next().unwrap(), chars.next().unwrap());
            let expected = expected_gap(a, b, size as f32);
            let found = gaps(&inked_columns(&picture));
            assert_eq!(found.len(), 1, "{pair:?}: one gap between two glyphs, found {found:?}");
            assert!(
                (found[0] as f32 - expected).abs() <= 1.5,
                "{pair:?}: {} blank columns between the letters, the font says {expected:.1}",
                found[0]
            );
        }
    }

    #[test]
    fn a_word_is_as_wide_as_its_advances_and_sits_on_one_baseline() {
        let size = 40u32;
        let line = Line::new("softmax", f64::from(size)).unwrap();
        let picture = Picture::draw(300, 80, |area| {
            area.draw_text("softmax", &text(size), (10, 10))?;
            Ok(())
        })
        .unwrap();
        let columns = inked_columns(&picture);
        let ink_width = columns.iter().rposition(|&c| c).unwrap() - columns.iter().position(|&c| c).unwrap();
        assert!((ink_width as f32 - line.width).abs() < 0.15 * size as f32, "{ink_width} vs {}", line.width);
        // No gap inside a word wider than the widest one the font makes ("m" then "a").
        let widest = expected_gap('m', 'a', size as f32).max(expected_gap('t', 'm', size as f32));
        assert!(gaps(&columns).iter().all(|&g| g as f32 <= widest + 1.5), "{:?}", gaps(&columns));
        // "s", "o", "m", "a" and "x" stand on the baseline: their lowest ink is one row.
        let (w, h) = (picture.width as usize, picture.height as usize);
        let bottom = (0..h).rev().find(|&y| (0..w).any(|x| picture.rgb[(y * w + x) * 3] < 128)).unwrap();
        let baseline = 10.0 + line.ascent;
        assert!((bottom as f32 - baseline).abs() <= 1.5, "lowest ink at {bottom}, baseline {baseline}");
    }
}
