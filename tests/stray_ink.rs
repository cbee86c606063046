//! Preprocessing drops ink that is not the digit: a form's lines running off the picture's edge
//! around a digit, specks of dust or noise; and keeps everything of a digit alone, MNIST's own
//! included, and of a digit cropped so tight that it touches the edge.

mod common;

use lenet_gpu::data::mnist;
use lenet_gpu::data::preprocess::{Dropped, prepare};

const WHITE: u16 = u16::MAX;
const W: usize = 150;
const H: usize = 120;

/// A `W` x `H` white picture with black ink wherever `ink(x, y)`.
fn drawing(ink: impl Fn(f64, f64) -> bool) -> Vec<u16> {
    (0..W * H).map(|i| if ink((i % W) as f64, (i / W) as f64) { 0 } else { WHITE }).collect()
}

/// A "9" drawn with a 5-pixel pen: a ring and a stem down its right side, around (75, 60).
fn nine(x: f64, y: f64) -> bool {
    let ring = ((x - 75.0).powi(2) + (y - 45.0).powi(2)).sqrt();
    (12.0..17.0).contains(&ring) || ((87.0..92.0).contains(&x) && (45.0..95.0).contains(&y))
}

/// A form's cell: two lines across and two down, crossing the whole picture, around the digit.
fn cell(x: f64, y: f64) -> bool {
    [10.0, 137.0].iter().any(|&c| (c..c + 3.0).contains(&x))
        || [8.0, 110.0].iter().any(|&r| (r..r + 3.0).contains(&y))
}

/// `n` 2x2 specks at seeded places more than a fifth of the digit's height (67) from the digit's
/// box (58..92, 28..95): where they would widen the crop.
fn specks(n: usize) -> Vec<(f64, f64)> {
    let mut state = 12345u64;
    let mut next = move |m: usize| {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 33) as usize % m) as f64
    };
    let mut out = Vec::new();
    while out.len() < n {
        let (x, y) = (next(W - 2), next(H - 2));
        let near = (40.0..111.0).contains(&x) && (10.0..114.0).contains(&y);
        if !near {
            out.push((x, y));
        }
    }
    out
}

#[test]
fn a_digit_in_a_forms_cell_reads_as_the_digit_alone() {
    let clean = prepare(&drawing(nine), W, H).unwrap();
    assert_eq!(clean.dropped, Dropped::default());
    let boxed = prepare(&drawing(|x, y| nine(x, y) || cell(x, y)), W, H).unwrap();
    assert_eq!(boxed.dropped, Dropped { at_edge: 1, specks: 0 }, "the four lines are one piece");
    assert_eq!(boxed.pixels, clean.pixels, "the lines are gone, the digit unchanged");
    assert_eq!(boxed.dropped.to_string(), "ink touching the picture's edge (1 piece)");
}

#[test]
fn specks_far_lighter_than_the_strokes_are_dropped() {
    let clean = prepare(&drawing(nine), W, H).unwrap();
    let dust = specks(40);
    let speck = |x: f64, y: f64| {
        dust.iter().any(|&(sx, sy)| (sx..sx + 2.0).contains(&x) && (sy..sy + 2.0).contains(&y))
    };
    let noisy = prepare(&drawing(|x, y| nine(x, y) || speck(x, y)), W, H).unwrap();
    assert_eq!(noisy.pixels, clean.pixels, "the specks are gone, the digit unchanged");
    // Specks touching the edge count there; specks that overlap count once.
    let n = noisy.dropped.at_edge + noisy.dropped.specks;
    assert!((30..=40).contains(&n) && noisy.dropped.specks >= 25, "{:?}", noisy.dropped);
    // Without the cleanup the specks would set the crop: the digit would be a fraction of its size.
    let far = dust.iter().map(|&(x, y)| (x - 75.0).abs().max(y - 60.0)).fold(0.0, f64::max);
    assert!(far > 50.0, "the specks reach far from the digit: {far}");
}

#[test]
fn a_digit_cropped_tight_keeps_its_ink_touching_the_edge() {
    // A "0" whose ring touches all four edges, with a speck in its hole: the ring is the digit.
    let zero = |x: f64, y: f64| {
        let r = ((x - 74.5).powi(2) / 74.5f64.powi(2) + (y - 59.5).powi(2) / 59.5f64.powi(2)).sqrt();
        r > 0.9 && r <= 1.0
    };
    let hole_speck = |x: f64, y: f64| (74.0..76.0).contains(&x) && (59.0..61.0).contains(&y);
    let clean = prepare(&drawing(zero), W, H).unwrap();
    assert_eq!(clean.dropped, Dropped::default());
    let with_speck = prepare(&drawing(|x, y| zero(x, y) || hole_speck(x, y)), W, H).unwrap();
    assert_eq!(with_speck.dropped, Dropped::default(), "a speck inside the digit is not far from it");
    // A "1" touching the top and bottom edges, and a speck: the "1" is kept.
    let one = |x: f64, _y: f64| (70.0..80.0).contains(&x);
    let digit = prepare(&drawing(|x, y| one(x, y) || hole_speck(x - 30.0, y)), W, H).unwrap();
    assert_eq!(digit.dropped.at_edge, 0, "{:?}", digit.dropped);
    // A "7" whose bar runs off the right edge, beside a free-standing stroke: both stay.
    let bar = |x: f64, y: f64| x >= 60.0 && (30.0..36.0).contains(&y);
    let stem = |x: f64, y: f64| (80.0..86.0).contains(&x) && (40.0..100.0).contains(&y);
    let seven = prepare(&drawing(|x, y| bar(x, y) || stem(x, y)), W, H).unwrap();
    assert_eq!(seven.dropped, Dropped::default());
    // A frame touching the left edge only, around a digit: it goes.
    let frame = |x: f64, y: f64| {
        let inside = |m: f64| (m..140.0 - m).contains(&x) && (5.0 + m..115.0 - m).contains(&y);
        x < 140.0 && (5.0..115.0).contains(&y) && !inside(4.0) || x < 4.0 && (5.0..115.0).contains(&y)
    };
    let boxed = prepare(&drawing(|x, y| frame(x, y) || nine(x, y)), W, H).unwrap();
    assert_eq!(boxed.dropped, Dropped { at_edge: 1, specks: 0 });
    assert_eq!(boxed.pixels, prepare(&drawing(nine), W, H).unwrap().pixels);
}

#[test]
fn mnists_own_digits_lose_nothing_but_their_few_specks() {
    // Every test digit, scaled 3x onto a gray page as a photo of it would be. A few MNIST digits
    // hold a speck far from the strokes (checked by eye: a dot above a "5", two beside a "1"):
    // those lose it, and nothing else.
    let Some(dir) = common::shared_mnist_dir() else { return };
    let test = mnist::load(&dir).unwrap().test;
    let (w, h) = (28 * 3, 28 * 3);
    let mut changed = Vec::new();
    for i in 0..test.len() {
        let src = test.image(i);
        let picture: Vec<u16> = (0..w * h)
            .map(|p| {
                let v = src[(p / w / 3) * 28 + (p % w) / 3] as f64 / 255.0;
                ((0.8 - 0.65 * v) * WHITE as f64) as u16
            })
            .collect();
        let digit = prepare(&picture, w, h).unwrap();
        if digit.dropped.any() {
            changed.push((i, digit.dropped));
        }
    }
    eprintln!("{} of {} digits lost ink: {changed:?}", changed.len(), test.len());
    assert!(changed.len() <= 20, "MNIST's own strokes are kept");
    assert!(changed.iter().all(|(_, d)| d.at_edge == 0), "MNIST's strokes touching the edge are kept");
}
