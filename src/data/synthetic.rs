//! Synthetic handwritten-looking digits, MNIST-shaped (28x28 bytes, white ink on black), for
//! when MNIST itself is not available.
//!
//! Each digit is a stroke skeleton (polylines and arcs in a unit box, y down), drawn with a
//! random affine transform, a smooth random warp, random stroke width, anti-aliased edges and a
//! little noise. Each image has its own generator derived from (seed, index), so the output does
//! not depend on the number of threads.

use std::f32::consts::PI;
use std::sync::OnceLock;

use rayon::prelude::*;

use super::{Dataset, Split};
use crate::rng::Rng;

/// Image side, as MNIST's.
pub const SIDE: usize = 28;
/// Sizes used when synthetic digits stand in for MNIST.
pub const DEFAULT_TRAIN: usize = 60_000;
pub const DEFAULT_TEST: usize = 10_000;

const PIXELS: usize = SIDE * SIDE;

type Pt = (f32, f32);
type Glyph = Vec<Vec<Pt>>;

/// `n_train` training and `n_test` test images, deterministic for `seed`.
pub fn generate(n_train: usize, n_test: usize, seed: u64) -> Split {
    Split {
        train: generate_set(n_train, Rng::derive(seed, "synthetic/train").next_u64()),
        test: generate_set(n_test, Rng::derive(seed, "synthetic/test").next_u64()),
    }
}

fn generate_set(n: usize, base: u64) -> Dataset {
    let mut images = vec![0u8; n * PIXELS];
    let mut labels = vec![0u8; n];
    images.par_chunks_mut(PIXELS).zip(labels.par_iter_mut()).enumerate().for_each(|(i, (image, label))| {
        // Hash (base, i) into a seed: neighbouring indices get unrelated streams.
        let mut rng = Rng::new(Rng::new(base ^ i as u64).next_u64());
        *label = rng.below(10) as u8;
        draw_digit(*label, &mut rng, image);
    });
    Dataset::gray(images, labels, SIDE, SIDE)
}

/// Renders one digit into a zeroed 28x28 image.
fn draw_digit(digit: u8, rng: &mut Rng, image: &mut [u8]) {
    let variants = &glyphs()[digit as usize];
    let glyph = &variants[rng.below(variants.len())];
    let pose = Pose::random(rng);
    let pen = Pen { half_width: rng.uniform(0.8, 1.7), soft: rng.uniform(0.8, 1.6) };
    let mut strokes: Vec<Vec<Pt>> =
        glyph.iter().map(|stroke| stroke.iter().map(|&p| pose.apply(p)).collect()).collect();
    keep_in_frame(&mut strokes, pen.reach());
    let mut ink = [0f32; PIXELS];
    for seg in strokes.iter().flat_map(|stroke| stroke.windows(2)) {
        pen.draw_segment(seg[0], seg[1], &mut ink);
    }
    quantize(&ink, rng, image);
}

/// Shrinks and shifts the strokes as needed so that no ink comes within a pixel of the edge:
/// like MNIST, whose digits sit inside a 20x20 box, a random pose must not crop a digit.
fn keep_in_frame(strokes: &mut [Vec<Pt>], reach: f32) {
    let pts = || strokes.iter().flatten();
    let (mut x0, mut x1, mut y0, mut y1) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
    for &(x, y) in pts() {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    let (lo, hi) = (1.0 + reach, SIDE as f32 - 1.0 - reach);
    let room = hi - lo;
    let k = (room / (x1 - x0).max(1e-3)).min(room / (y1 - y0).max(1e-3)).min(1.0);
    let (cx, cy) = ((x0 + x1) * 0.5, (y0 + y1) * 0.5);
    // After scaling by k about the centre, shift the box back inside [lo, hi] if it sticks out.
    let shift = |c: f32, half: f32| (lo + half - c).max(0.0) + (hi - half - c).min(0.0);
    let (dx, dy) = (shift(cx, (x1 - x0) * k * 0.5), shift(cy, (y1 - y0) * k * 0.5));
    for p in strokes.iter_mut().flatten() {
        *p = (cx + (p.0 - cx) * k + dx, cy + (p.1 - cy) * k + dy);
    }
}

/// Where and how the glyph lands on the page: unit box -> pixels.
struct Pose {
    /// Linear part (rotation, scale, shear), row-major 2x2.
    m: [f32; 4],
    /// Pixel position of the unit box's centre.
    centre: Pt,
    /// Smooth warp: amplitudes, spatial frequencies, phases.
    warp: [f32; 6],
}

impl Pose {
    fn random(rng: &mut Rng) -> Pose {
        let angle = rng.uniform(-15.0, 15.0) * PI / 180.0;
        // MNIST fits the digit's height to 20 pixels; vary it a little.
        let sy = 20.0 * rng.uniform(0.8, 1.05);
        let sx = sy * rng.uniform(0.8, 1.2);
        // Negative shear leans the top right, as most handwriting does.
        let shear = rng.uniform(-0.35, 0.15);
        let (s, c) = angle.sin_cos();
        // R * Shear * Scale, Shear = [[1, shear], [0, 1]].
        let m = [c * sx, (c * shear - s) * sy, s * sx, (s * shear + c) * sy];
        let centre = (14.0 + rng.uniform(-1.5, 1.5), 14.0 + rng.uniform(-1.5, 1.5));
        let warp = [
            rng.uniform(0.0, 1.2),
            rng.uniform(0.0, 1.2),
            rng.uniform(3.0, 7.0),
            rng.uniform(3.0, 7.0),
            rng.uniform(0.0, 2.0 * PI),
            rng.uniform(0.0, 2.0 * PI),
        ];
        Pose { m, centre, warp }
    }

    fn apply(&self, (x, y): Pt) -> Pt {
        let (u, v) = (x - 0.5, y - 0.5);
        let [ax, ay, fx, fy, px, py] = self.warp;
        let (wx, wy) = (ax * (fy * y + px).sin(), ay * (fx * x + py).sin());
        let m = &self.m;
        (self.centre.0 + m[0] * u + m[1] * v + wx, self.centre.1 + m[2] * u + m[3] * v + wy)
    }
}

/// Stroke profile: full ink within `half_width` of the skeleton, fading over `soft` pixels.
struct Pen {
    half_width: f32,
    soft: f32,
}

impl Pen {
    /// Distance from the skeleton beyond which there is no ink.
    fn reach(&self) -> f32 {
        self.half_width + self.soft * 0.5
    }

    /// Max-blends one anti-aliased segment into `ink`, visiting only its bounding box.
    fn draw_segment(&self, a: Pt, b: Pt, ink: &mut [f32; PIXELS]) {
        let reach = self.reach();
        let range = |lo: f32, hi: f32| {
            let first = (lo - reach - 0.5).floor().max(0.0) as usize;
            let last = (hi + reach - 0.5).ceil().clamp(-1.0, SIDE as f32 - 1.0);
            first..(last + 1.0) as usize
        };
        let (xs, ys) = (range(a.0.min(b.0), a.0.max(b.0)), range(a.1.min(b.1), a.1.max(b.1)));
        for py in ys {
            for px in xs.clone() {
                let d = distance_to_segment((px as f32 + 0.5, py as f32 + 0.5), a, b);
                let v = ((reach - d) / self.soft).clamp(0.0, 1.0);
                let cell = &mut ink[py * SIDE + px];
                *cell = cell.max(v);
            }
        }
    }
}

fn distance_to_segment(p: Pt, a: Pt, b: Pt) -> f32 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 { (((p.0 - a.0) * dx + (p.1 - a.1) * dy) / len2).clamp(0.0, 1.0) } else { 0.0 };
    let (ex, ey) = (p.0 - a.0 - t * dx, p.1 - a.1 - t * dy);
    (ex * ex + ey * ey).sqrt()
}

/// Ink coverage to bytes, with per-pixel grain on the strokes and the odd faint speck. The
/// background stays exactly 0 elsewhere, as in MNIST.
fn quantize(ink: &[f32; PIXELS], rng: &mut Rng, image: &mut [u8]) {
    let peak = rng.uniform(0.85, 1.0);
    for (out, &v) in image.iter_mut().zip(ink) {
        if v > 0.0 {
            let grain = 1.0 + 0.08 * rng.normal();
            *out = (v * peak * grain * 255.0).round().clamp(0.0, 255.0) as u8;
        }
    }
    if rng.next_f32() < 0.1 {
        let speck = rng.below(PIXELS);
        if let Some(px) = image.get_mut(speck) {
            *px = (*px).max(rng.uniform(20.0, 90.0) as u8);
        }
    }
}

/// The stroke skeletons of each digit, one or more variants each, built once.
fn glyphs() -> &'static [Vec<Glyph>; 10] {
    static GLYPHS: OnceLock<[Vec<Glyph>; 10]> = OnceLock::new();
    GLYPHS.get_or_init(build_glyphs)
}

/// Points along an elliptical arc, angles in degrees (0 = right, 90 = down since y points down).
fn arc(cx: f32, cy: f32, rx: f32, ry: f32, from: f32, to: f32) -> Vec<Pt> {
    let steps = ((to - from).abs() / 15.0).ceil().max(2.0) as usize;
    (0..=steps)
        .map(|i| {
            let t = (from + (to - from) * i as f32 / steps as f32) * PI / 180.0;
            (cx + rx * t.cos(), cy + ry * t.sin())
        })
        .collect()
}

/// Joins pieces into one continuous stroke.
fn chain(pieces: &[&[Pt]]) -> Vec<Pt> {
    pieces.concat()
}

fn build_glyphs() -> [Vec<Glyph>; 10] {
    [
        // 0: an oval, sometimes narrower with the pen overshooting where it started.
        vec![vec![arc(0.5, 0.5, 0.3, 0.47, 0.0, 360.0)], vec![arc(0.5, 0.5, 0.26, 0.47, 250.0, 630.0)]],
        // 1: a bare stem, or with a flag (and sometimes a foot).
        vec![
            vec![vec![(0.52, 0.0), (0.48, 1.0)]],
            vec![vec![(0.3, 0.2), (0.55, 0.0), (0.55, 1.0)]],
            vec![vec![(0.3, 0.2), (0.55, 0.0), (0.55, 1.0)], vec![(0.32, 1.0), (0.78, 1.0)]],
        ],
        // 2: hook over the top, diagonal down, base (plain, or with a small loop at the turn).
        vec![
            vec![chain(&[&arc(0.5, 0.3, 0.3, 0.28, 190.0, 390.0), &[(0.2, 1.0), (0.82, 1.0)]])],
            vec![chain(&[
                &arc(0.5, 0.3, 0.28, 0.28, 200.0, 380.0),
                &arc(0.3, 0.94, 0.06, 0.06, 270.0, 90.0),
                &[(0.85, 0.95)],
            ])],
        ],
        // 3: two bowls open to the left.
        vec![
            vec![chain(&[
                &arc(0.48, 0.27, 0.27, 0.25, 200.0, 450.0),
                &arc(0.48, 0.74, 0.31, 0.26, 270.0, 520.0),
            ])],
            vec![chain(&[
                &[(0.22, 0.02), (0.75, 0.02), (0.45, 0.42)],
                &arc(0.48, 0.7, 0.3, 0.28, 270.0, 520.0),
            ])],
        ],
        // 4: open (diagonal) or closed-top (two uprights) forms.
        vec![
            vec![vec![(0.6, 0.0), (0.15, 0.66), (0.85, 0.66)], vec![(0.64, 0.3), (0.64, 1.0)]],
            vec![vec![(0.25, 0.0), (0.2, 0.55), (0.82, 0.55)], vec![(0.68, 0.0), (0.68, 1.0)]],
        ],
        // 5: top bar, short down stroke, bowl.
        vec![
            vec![chain(&[
                &[(0.78, 0.02), (0.3, 0.02), (0.26, 0.45)],
                &arc(0.48, 0.68, 0.3, 0.3, 225.0, 495.0),
            ])],
            vec![
                vec![(0.3, 0.03), (0.8, 0.0)],
                chain(&[&[(0.3, 0.03), (0.26, 0.45)], &arc(0.48, 0.68, 0.3, 0.3, 225.0, 495.0)]),
            ],
        ],
        // 6: a long curve from the top right into a closed bottom loop.
        vec![vec![chain(&[
            &arc(0.8, 0.7, 0.58, 0.68, 250.0, 180.0),
            &arc(0.5, 0.72, 0.28, 0.26, 180.0, 540.0),
        ])]],
        // 7: top bar and diagonal, sometimes crossed.
        vec![
            vec![vec![(0.18, 0.02), (0.82, 0.02), (0.42, 1.0)]],
            vec![vec![(0.18, 0.02), (0.82, 0.02), (0.42, 1.0)], vec![(0.38, 0.52), (0.78, 0.52)]],
        ],
        // 8: two stacked loops.
        vec![vec![arc(0.5, 0.25, 0.24, 0.24, 0.0, 360.0), arc(0.5, 0.72, 0.3, 0.27, 0.0, 360.0)]],
        // 9: a top loop and a straight or curved tail.
        vec![
            vec![arc(0.48, 0.3, 0.28, 0.27, 0.0, 360.0), vec![(0.76, 0.3), (0.72, 1.0)]],
            vec![chain(&[&arc(0.48, 0.3, 0.28, 0.27, 0.0, 360.0), &arc(0.26, 0.3, 0.5, 0.68, 0.0, 100.0)])],
        ],
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glyphs_stay_in_the_unit_box() {
        for (digit, variants) in glyphs().iter().enumerate() {
            for glyph in variants {
                for &(x, y) in glyph.iter().flatten() {
                    assert!(
                        (-0.05..=1.05).contains(&x) && (-0.05..=1.05).contains(&y),
                        "{digit}: ({x}, {y})"
                    );
                }
            }
        }
    }

    #[test]
    fn thread_count_does_not_change_the_output() {
        let a = generate(50, 10, 3);
        let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let b = pool.install(|| generate(50, 10, 3));
        assert_eq!(a.train, b.train);
        assert_eq!(a.test, b.test);
    }
}
