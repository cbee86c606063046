//! Draws the sample digits of `assets/` from hand-coded strokes (no MNIST image is involved):
//! each digit is a few polylines, lines and elliptic arcs in a unit square, rendered with
//! anti-aliased edges at a size, position, thickness and pixel format of its own.
//!
//! ```sh
//! cargo run --release --example draw_digits -- assets
//! ```

use image::{ImageBuffer, Luma, Rgb, Rgba};
use std::f64::consts::PI;
use std::path::Path;

type Point = (f64, f64);

/// Points along the ellipse centered at `c` with radii `r`, from angle `from` to `to` in degrees
/// (0 is right, 90 is down: y grows downward).
fn arc(c: Point, r: Point, from: f64, to: f64) -> Vec<Point> {
    let steps = 48;
    (0..=steps)
        .map(|i| {
            let t = (from + (to - from) * i as f64 / steps as f64) * PI / 180.0;
            (c.0 + r.0 * t.cos(), c.1 + r.1 * t.sin())
        })
        .collect()
}

/// Points along the quadratic Bézier curve from `a` to `b` pulled toward `ctrl`.
fn curve(a: Point, ctrl: Point, b: Point) -> Vec<Point> {
    (0..=32)
        .map(|i| {
            let t = i as f64 / 32.0;
            let u = 1.0 - t;
            (
                u * u * a.0 + 2.0 * u * t * ctrl.0 + t * t * b.0,
                u * u * a.1 + 2.0 * u * t * ctrl.1 + t * t * b.1,
            )
        })
        .collect()
}

/// The strokes of `digit` in the unit square.
fn strokes(digit: u8) -> Vec<Vec<Point>> {
    match digit {
        0 => vec![arc((0.5, 0.5), (0.27, 0.4), 0.0, 360.0)],
        1 => vec![vec![(0.42, 0.28), (0.58, 0.1), (0.5, 0.9)]],
        2 => {
            let mut s = arc((0.5, 0.32), (0.25, 0.22), 190.0, 400.0);
            s.extend([(0.22, 0.9), (0.8, 0.9)]);
            vec![s]
        }
        3 => {
            let mut s = arc((0.5, 0.3), (0.22, 0.2), 200.0, 450.0);
            s.extend(arc((0.5, 0.7), (0.26, 0.2), 270.0, 520.0));
            vec![s]
        }
        4 => vec![vec![(0.62, 0.1), (0.2, 0.64), (0.82, 0.64)], vec![(0.62, 0.1), (0.62, 0.9)]],
        5 => {
            let mut s = vec![(0.76, 0.1), (0.32, 0.1), (0.28, 0.46)];
            s.extend(arc((0.5, 0.66), (0.26, 0.24), 230.0, 510.0));
            vec![s]
        }
        6 => vec![curve((0.7, 0.1), (0.26, 0.28), (0.28, 0.7)), arc((0.5, 0.7), (0.22, 0.2), 0.0, 360.0)],
        7 => vec![vec![(0.2, 0.1), (0.8, 0.1), (0.42, 0.9)]],
        8 => vec![arc((0.5, 0.29), (0.2, 0.19), 0.0, 360.0), arc((0.5, 0.7), (0.25, 0.21), 0.0, 360.0)],
        9 => vec![arc((0.5, 0.32), (0.23, 0.21), 0.0, 360.0), curve((0.73, 0.32), (0.72, 0.7), (0.6, 0.9))],
        _ => unreachable!("a digit"),
    }
}

/// Distance from `p` to the segment `a`-`b`.
fn segment_distance(p: Point, a: Point, b: Point) -> f64 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = dx * dx + dy * dy;
    let t = if len2 == 0.0 { 0.0 } else { (((p.0 - a.0) * dx + (p.1 - a.1) * dy) / len2).clamp(0.0, 1.0) };
    ((p.0 - a.0 - t * dx).powi(2) + (p.1 - a.1 - t * dy).powi(2)).sqrt()
}

/// Ink coverage in [0, 1] of every pixel of a `width` x `height` image, with the unit square
/// mapped onto the pixel rectangle `frame` (x0, y0, x1, y1) and strokes `thickness` pixels wide.
fn render(digit: u8, width: u32, height: u32, frame: (f64, f64, f64, f64), thickness: f64) -> Vec<f64> {
    let (x0, y0, x1, y1) = frame;
    let strokes: Vec<Vec<Point>> = strokes(digit)
        .into_iter()
        .map(|s| s.into_iter().map(|(x, y)| (x0 + x * (x1 - x0), y0 + y * (y1 - y0))).collect())
        .collect();
    let mut coverage = Vec::with_capacity((width * height) as usize);
    for y in 0..height {
        for x in 0..width {
            let p = (x as f64 + 0.5, y as f64 + 0.5);
            let d = strokes
                .iter()
                .flat_map(|s| s.windows(2).map(move |w| segment_distance(p, w[0], w[1])))
                .fold(f64::INFINITY, f64::min);
            coverage.push((thickness / 2.0 - d + 0.5).clamp(0.0, 1.0));
        }
    }
    coverage
}

/// A reproducible pseudo-random sequence (SplitMix64) for the paper texture.
fn noise(seed: u64) -> impl FnMut() -> f64 {
    let mut state = seed;
    move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) as f64 / u64::MAX as f64
    }
}

fn mix(ink: f64, paper: f64, coverage: f64) -> f64 {
    ink * coverage + paper * (1.0 - coverage)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "assets".into());
    let dir = Path::new(&dir);
    std::fs::create_dir_all(dir)?;
    let byte = |v: f64| (v * 255.0).round() as u8;

    // 0: 8-bit gray, black on white.
    let c = render(0, 120, 160, (20.0, 20.0, 100.0, 140.0), 16.0);
    ImageBuffer::from_fn(120, 160, |x, y| Luma([byte(1.0 - c[(y * 120 + x) as usize])]))
        .save(dir.join("0-gray.png"))?;

    // 1: 16-bit gray, black on white.
    let c = render(1, 90, 140, (10.0, 15.0, 80.0, 125.0), 14.0);
    ImageBuffer::from_fn(90, 140, |x, y| Luma([((1.0 - c[(y * 90 + x) as usize]) * 65535.0).round() as u16]))
        .save(dir.join("1-gray16.png"))?;

    // 2: RGBA, dark blue strokes on a transparent canvas (transparent pixels are black).
    let c = render(2, 200, 200, (30.0, 25.0, 170.0, 175.0), 20.0);
    ImageBuffer::from_fn(200, 200, |x, y| {
        let a = c[(y * 200 + x) as usize];
        if a == 0.0 { Rgba([0, 0, 0, 0]) } else { Rgba([20, 30, 90, byte(a)]) }
    })
    .save(dir.join("2-rgba.png"))?;

    // 3: 8-bit gray, light on dark (MNIST's own polarity), small.
    let c = render(3, 64, 64, (8.0, 6.0, 56.0, 58.0), 7.0);
    ImageBuffer::from_fn(64, 64, |x, y| Luma([byte(c[(y * 64 + x) as usize])]))
        .save(dir.join("3-light-on-dark.png"))?;

    // 4: RGB, blue ink on cream paper, the digit off center in a wide picture.
    let c = render(4, 300, 200, (170.0, 30.0, 280.0, 180.0), 20.0);
    ImageBuffer::from_fn(300, 200, |x, y| {
        let k = c[(y * 300 + x) as usize];
        Rgb([byte(mix(0.1, 0.98, k)), byte(mix(0.15, 0.95, k)), byte(mix(0.6, 0.85, k))])
    })
    .save(dir.join("4-rgb-off-center.png"))?;

    // 5: 8-bit gray, tiny (upscaled by preprocessing).
    let c = render(5, 18, 24, (1.0, 1.0, 17.0, 23.0), 2.5);
    ImageBuffer::from_fn(18, 24, |x, y| Luma([byte(1.0 - c[(y * 18 + x) as usize])]))
        .save(dir.join("5-tiny.png"))?;

    // 6: 8-bit gray, large (downscaled 20x by preprocessing).
    let c = render(6, 480, 480, (100.0, 40.0, 380.0, 440.0), 36.0);
    ImageBuffer::from_fn(480, 480, |x, y| Luma([byte(1.0 - c[(y * 480 + x) as usize])]))
        .save(dir.join("6-large.png"))?;

    // 7: 8-bit gray, tall and narrow picture, digit near the top.
    let c = render(7, 100, 220, (10.0, 10.0, 90.0, 130.0), 15.0);
    ImageBuffer::from_fn(100, 220, |x, y| Luma([byte(1.0 - c[(y * 100 + x) as usize])]))
        .save(dir.join("7-tall.png"))?;

    // 8: 8-bit gray, gray ink on textured gray paper.
    let c = render(8, 180, 180, (30.0, 15.0, 150.0, 165.0), 19.0);
    let mut rand = noise(8);
    let mut pixels = Vec::with_capacity(180 * 180);
    for &k in &c {
        let paper = 0.78 + 0.1 * (rand() - 0.5);
        pixels.push(byte(mix(0.25, paper, k)));
    }
    ImageBuffer::<Luma<u8>, _>::from_raw(180, 180, pixels)
        .expect("size")
        .save(dir.join("8-noisy-paper.png"))?;

    // 9: RGB, red ink on white.
    let c = render(9, 128, 128, (20.0, 8.0, 108.0, 120.0), 14.0);
    ImageBuffer::from_fn(128, 128, |x, y| {
        let k = c[(y * 128 + x) as usize];
        Rgb([byte(mix(0.8, 1.0, k)), byte(mix(0.05, 1.0, k)), byte(mix(0.1, 1.0, k))])
    })
    .save(dir.join("9-red-ink.png"))?;

    println!("sample digits written to {}", dir.display());
    Ok(())
}
