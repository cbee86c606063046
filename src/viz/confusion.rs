//! `lenet eval --confusion`: the confusion matrix as a heat map. Row r, column c holds how many
//! test images of class r the network called c, printed in the cell; the cell's blue is that
//! count as a fraction of row r (on a square-root scale, so that a handful of mistakes still
//! shows beside a diagonal of a thousand). Each row's accuracy is printed on its right. Classes
//! are labelled by name where the data set has names (CIFAR-10's "cat", Fashion-MNIST's
//! "Sneaker"): the rows' names at their left, the columns' turned upright above them.

use super::{Picture, blues, fill_rect, ink_on, outline_rect, text, text_at};
use crate::Result;
use crate::train::Evaluation;
use plotters::style::text_anchor::{HPos, VPos};
use plotters::style::{FontTransform, RGBColor};

const MARGIN: i32 = 16;
const TITLE: u32 = 16;
const SMALL: u32 = 12;

/// The heat map of `evaluation`, its classes labelled by `class_name` ("7", or "cat").
pub fn draw(evaluation: &Evaluation, class_name: &dyn Fn(usize) -> String) -> Result<Picture> {
    let n = evaluation.classes;
    let cell = if n <= 12 { 48 } else { (600 / n.max(1) as i32).max(8) };
    let numbers = cell >= 28;
    let names: Vec<String> = (0..n).map(class_name).collect();
    let longest = names.iter().map(|name| super::text_size(name, SMALL).0 as i32).max().unwrap_or(0);
    // Names wider than a cell stand upright above their columns.
    let upright = longest > cell - 4;
    let head = if upright { longest + 4 } else { SMALL as i32 };
    let (left, top) = (MARGIN + 32 + longest, MARGIN + TITLE as i32 + 12 + 22 + head);
    let grid = n as i32 * cell;
    let width = left + grid + 90 + MARGIN;
    let height = top + grid + 16 + MARGIN;
    let title = format!(
        "confusion matrix: {:.2}% of {} test images right",
        evaluation.accuracy() * 100.0,
        evaluation.total()
    );
    let width = width.max(2 * MARGIN + super::text_size(&title, TITLE).0 as i32);
    Picture::draw(width as u32, height as u32, |area| {
        area.draw_text(&title, &text(TITLE), (MARGIN, MARGIN))?;
        let center = left + grid / 2;
        area.draw_text("predicted", &text_at(SMALL + 1, HPos::Center, VPos::Top), (center, top - 22 - head))?;
        let side = text_at(SMALL + 1, HPos::Center, VPos::Center).transform(FontTransform::Rotate270);
        area.draw_text("true class", &side, (MARGIN + 6, top + grid / 2))?;
        area.draw_text("accuracy", &text_at(SMALL, HPos::Left, VPos::Bottom), (left + grid + 8, top - 4))?;
        for (actual, name) in names.iter().enumerate() {
            let row = &evaluation.confusion[actual * n..(actual + 1) * n];
            let total = row.iter().sum::<u64>().max(1) as f64;
            let y = top + actual as i32 * cell;
            let mid = y + cell / 2;
            area.draw_text(name, &text_at(SMALL, HPos::Right, VPos::Center), (left - 6, mid))?;
            for (predicted, &count) in row.iter().enumerate() {
                let x = left + predicted as i32 * cell;
                let color = blues((count as f64 / total).sqrt() as f32);
                fill_rect(area, (x, y), (cell, cell), color)?;
                if numbers && count > 0 {
                    let ink = ink_on(color);
                    let style = text_at(SMALL, HPos::Center, VPos::Center).color(&ink);
                    area.draw_text(&count.to_string(), &style, (x + cell / 2, mid))?;
                }
            }
            let accuracy = format!("{:.1}%", evaluation.class_accuracy(actual) * 100.0);
            area.draw_text(&accuracy, &text_at(SMALL, HPos::Left, VPos::Center), (left + grid + 8, mid))?;
        }
        for (predicted, name) in names.iter().enumerate() {
            let x = left + predicted as i32 * cell + cell / 2;
            let style = match upright {
                true => text_at(SMALL, HPos::Left, VPos::Center).transform(FontTransform::Rotate270),
                false => text_at(SMALL, HPos::Center, VPos::Bottom),
            };
            area.draw_text(name, &style, (x, top - 4))?;
        }
        outline_rect(area, (left, top), (grid, grid), RGBColor(120, 120, 120))?;
        Ok(())
    })
}
