//! `lenet eval --shift`: how much translation the network tolerates. Every test image is moved
//! by (dx, dy) pixels, for every dx and dy in -max..=max, and the network is evaluated on each
//! moved copy. Shifting works on the images' bytes, before normalization: pixels moved in from
//! outside are background (0), pixels moved out are lost.

use crate::Result;
use crate::data::Dataset;
use crate::train::{Engine, evaluate_async};

pub use crate::data::augment::shift_image;

/// Every image of `data` moved by (dx, dy) ([`shift_image`]), with the same labels.
pub fn shift_dataset(data: &Dataset, dx: i32, dy: i32) -> Dataset {
    // Colour images channel plane by channel plane.
    let plane = data.rows * data.cols;
    let images = (0..data.len())
        .flat_map(|i| {
            data.image(i)
                .chunks(plane.max(1))
                .flat_map(|p| shift_image(p, data.rows, data.cols, dx, dy))
                .collect::<Vec<_>>()
        })
        .collect();
    Dataset { images, labels: data.labels.clone(), ..*data }
}

/// Accuracy for every shift (dx, dy) with |dx|, |dy| <= `max`.
#[derive(Clone, Debug, PartialEq)]
pub struct ShiftGrid {
    pub max: usize,
    /// accuracy[(dy + max) * side + (dx + max)], side = 2 max + 1: rows go down, columns right.
    pub accuracy: Vec<f64>,
}

/// The shifts `distance` pixels from the origin on the grid (its ring: max(|dx|, |dy|) =
/// distance), summarized.
#[derive(Clone, Debug, PartialEq)]
pub struct Ring {
    pub distance: usize,
    pub shifts: usize,
    pub mean: f64,
    pub worst: f64,
    /// The (dx, dy) of the worst.
    pub worst_at: (i32, i32),
}

impl ShiftGrid {
    pub fn side(&self) -> usize {
        2 * self.max + 1
    }

    /// The accuracy for a shift of (dx, dy).
    pub fn at(&self, dx: i32, dy: i32) -> f64 {
        let m = self.max as i32;
        self.accuracy[((dy + m) * self.side() as i32 + dx + m) as usize]
    }

    /// Every (dx, dy) of the grid, row by row (dy from -max), as `accuracy` holds them.
    pub fn shifts(max: usize) -> Vec<(i32, i32)> {
        let m = max as i32;
        (-m..=m).flat_map(|dy| (-m..=m).map(move |dx| (dx, dy))).collect()
    }

    /// Mean and worst accuracy at each distance 0..=max.
    pub fn rings(&self) -> Vec<Ring> {
        let all = ShiftGrid::shifts(self.max);
        (0..=self.max)
            .map(|distance| {
                let ring: Vec<(i32, i32)> = all
                    .iter()
                    .copied()
                    .filter(|&(dx, dy)| dx.unsigned_abs().max(dy.unsigned_abs()) as usize == distance)
                    .collect();
                let values: Vec<f64> = ring.iter().map(|&(dx, dy)| self.at(dx, dy)).collect();
                let (i, worst) = values
                    .iter()
                    .copied()
                    .enumerate()
                    .min_by(|a, b| a.1.total_cmp(&b.1))
                    .expect("every ring has a shift");
                Ring {
                    distance,
                    shifts: ring.len(),
                    mean: values.iter().sum::<f64>() / values.len() as f64,
                    worst,
                    worst_at: ring[i],
                }
            })
            .collect()
    }
}

/// Evaluates `engine` on `data` moved by every shift up to `max` pixels in each direction,
/// calling `progress(done, total)` after each shift.
pub async fn evaluate_shifts_async(
    engine: &mut dyn Engine,
    data: &Dataset,
    max: usize,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<ShiftGrid> {
    let shifts = ShiftGrid::shifts(max);
    let mut accuracy = Vec::with_capacity(shifts.len());
    for (i, &(dx, dy)) in shifts.iter().enumerate() {
        let moved = if (dx, dy) == (0, 0) { data.clone() } else { shift_dataset(data, dx, dy) };
        accuracy.push(evaluate_async(engine, &moved).await?.accuracy());
        progress(i + 1, shifts.len());
    }
    Ok(ShiftGrid { max, accuracy })
}

/// `evaluate_shifts_async`, waiting for it (native only).
#[cfg(not(target_arch = "wasm32"))]
pub fn evaluate_shifts(
    engine: &mut dyn Engine,
    data: &Dataset,
    max: usize,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<ShiftGrid> {
    pollster::block_on(evaluate_shifts_async(engine, data, max, progress))
}
