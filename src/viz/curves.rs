//! `lenet train --plot`: the training curves of a metrics log (`metrics`), three charts over the
//! training steps: the loss (training, with the test and validation losses after each epoch), the
//! accuracy (training, test, validation), and the learning rate.
//!
//! Every chart marks where each epoch ends (dashed). The accuracy axis is zoomed to where the run
//! settled ([`accuracy_range`]: the test and validation accuracies and the second half of the
//! training ones), so that 97% and 99% are far apart; the steps before that are cut off at the
//! bottom, as the title says. Titles, legends, the epochs' names and the test accuracies are
//! written above each chart, never over its lines. Each training row is one point: the metrics
//! log gives no row to a handful of images (a short remainder joins the row before it).

use super::{FAMILY, Picture, text, text_at, text_size};
use crate::metrics::{Kind, Row};
use crate::{Error, Result};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};
use std::ops::Range;

const WIDTH: u32 = 800;
/// The charts' heights, top to bottom: loss, accuracy, learning rate.
const LOSS_HEIGHT: u32 = 300;
const ACCURACY_HEIGHT: u32 = 320;
const RATE_HEIGHT: u32 = 180;
const HEIGHT: u32 = LOSS_HEIGHT + ACCURACY_HEIGHT + RATE_HEIGHT;
/// Above each chart: the title and legend, then the epochs' or test accuracies' labels.
const HEAD: u32 = 52;
const TITLE: u32 = 16;
const SMALL: u32 = 12;
const BLUE: RGBColor = RGBColor(33, 102, 172);
const RED: RGBColor = RGBColor(178, 24, 43);
const GREEN: RGBColor = RGBColor(27, 120, 55);
const GRAY: RGBColor = RGBColor(90, 90, 90);
const EPOCH_LINE: RGBColor = RGBColor(150, 150, 150);

/// The accuracy axis, in percent: from a little below the lowest to a little above the highest
/// of the test and validation accuracies and the training accuracies of the run's second half
/// (by step), on a
/// round grid, at most 100.5. (0, 100.5) when there are no accuracies.
pub fn accuracy_range(rows: &[Row]) -> (f64, f64) {
    let last_step = rows.iter().map(|r| r.step).max().unwrap_or(0);
    let settled = rows
        .iter()
        .filter(|r| r.kind != Kind::Train || 2 * r.step >= last_step)
        .map(|r| r.accuracy * 100.0)
        .filter(|v| v.is_finite());
    let (low, high) = settled.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| (l.min(v), h.max(v)));
    if low > high {
        return (0.0, 100.5);
    }
    let pad = ((high - low) * 0.1).max(0.2);
    let step = grid_step(high - low + 2.0 * pad);
    let lower = (((low - pad) / step).floor() * step).max(0.0);
    let upper = (((high + pad) / step).ceil() * step).min(100.5);
    (lower, upper.max(lower + step))
}

/// A round distance between grid lines for a span of `span` percent.
fn grid_step(span: f64) -> f64 {
    [0.5, 1.0, 2.0, 5.0, 10.0].into_iter().find(|&s| span <= 6.0 * s).unwrap_or(20.0)
}

/// `points` cut to `range` on the y axis: the runs inside it, each ended where the line crosses
/// out (interpolated).
fn clip(points: &[(f64, f64)], range: &Range<f64>) -> Vec<Vec<(f64, f64)>> {
    let inside = |y: f64| range.contains(&y) || y == range.end;
    let cross = |a: (f64, f64), b: (f64, f64)| {
        let edge = if a.1.min(b.1) < range.start { range.start } else { range.end };
        let t = (edge - a.1) / (b.1 - a.1);
        (a.0 + t * (b.0 - a.0), edge)
    };
    let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut current: Vec<(f64, f64)> = Vec::new();
    for (i, &p) in points.iter().enumerate() {
        let previous = i.checked_sub(1).map(|j| points[j]);
        match (previous, inside(p.1)) {
            (Some(q), true) if !inside(q.1) => current.push(cross(q, p)),
            (Some(q), false) if inside(q.1) => {
                current.push(cross(q, p));
                runs.push(std::mem::take(&mut current));
            }
            _ => {}
        }
        if inside(p.1) {
            current.push(p);
        }
    }
    if !current.is_empty() {
        runs.push(current);
    }
    runs
}

/// The step each epoch ends at (its last row), in order.
fn epoch_ends(rows: &[Row]) -> Vec<(usize, usize)> {
    let mut ends: Vec<(usize, usize)> = Vec::new();
    for r in rows {
        match ends.iter_mut().find(|(e, _)| *e == r.epoch) {
            Some(end) => end.1 = end.1.max(r.step),
            None => ends.push((r.epoch, r.step)),
        }
    }
    ends.sort_unstable();
    ends
}

/// A short line and its label, as a legend entry at `(x, y)` (the line's left end, the text's
/// middle); returns the x after it.
fn legend_entry(
    area: &super::Area,
    (x, y): (i32, i32),
    color: RGBColor,
    dot: bool,
    label: &str,
) -> std::result::Result<i32, Box<dyn std::error::Error>> {
    area.draw(&PathElement::new(vec![(x, y), (x + 22, y)], color.stroke_width(2)))?;
    if dot {
        area.draw(&Circle::new((x + 11, y), 4, color.filled()))?;
    }
    area.draw_text(label, &text_at(SMALL, HPos::Left, VPos::Center), (x + 28, y))?;
    Ok(x + 28 + text_size(label, SMALL).0 as i32)
}

/// The points (step, value) of the rows of `kind`, leaving out values that are not finite.
fn points(rows: &[Row], kind: Kind, value: impl Fn(&Row) -> Option<f64>) -> Vec<(f64, f64)> {
    rows.iter()
        .filter(|r| r.kind == kind)
        .filter_map(|r| Some((r.step as f64, value(r).filter(|v| v.is_finite())?)))
        .collect()
}

/// A chart over steps `x` and values `y`, its axes drawn, in `area`.
type Chart<'a, 'b> = ChartContext<'a, super::canvas::Canvas<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A chart's plotting area with its axes, over `x` steps and `y` with `y_labels` labels.
fn chart<'a, 'b>(
    area: &'a super::Area<'b>,
    (x, y): (Range<f64>, Range<f64>),
    y_desc: &str,
    y_label: &dyn Fn(&f64) -> String,
    y_labels: usize,
) -> std::result::Result<Chart<'a, 'b>, Box<dyn std::error::Error>> {
    let mut chart = ChartBuilder::on(area)
        .margin_left(12)
        .margin_right(20)
        .margin_bottom(8)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x, y)?;
    chart
        .configure_mesh()
        .x_desc("step")
        .y_desc(y_desc)
        .y_labels(y_labels)
        .y_label_formatter(y_label)
        .label_style((FAMILY, SMALL))
        .axis_desc_style((FAMILY, SMALL + 1))
        .light_line_style(WHITE)
        .x_label_formatter(&|v: &f64| format!("{v:.0}"))
        .draw()?;
    Ok(chart)
}

/// A legend right-aligned to `right` on the line at `y`: each entry a short line (with a dot
/// for a per-epoch figure) and its label.
fn legend(
    area: &super::Area,
    right: i32,
    y: i32,
    entries: &[(RGBColor, bool, String)],
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let width: i32 = entries.iter().map(|e| 28 + text_size(&e.2, SMALL).0 as i32 + 16).sum::<i32>() - 16;
    let mut x = right - width;
    for (color, dot, label) in entries {
        x = legend_entry(area, (x, y), *color, *dot, label)? + 16;
    }
    Ok(())
}

/// The curves of `rows` (as `metrics::read` or `MetricsLog::rows` give them).
pub fn draw(rows: &[Row]) -> Result<Picture> {
    if !rows.iter().any(|r| r.kind == Kind::Train || r.kind == Kind::Test) {
        return Err(Error::InvalidArgument("there are no metrics to plot yet".into()));
    }
    let last_step = rows.iter().map(|r| r.step).max().unwrap_or(1).max(1) as f64;
    let kinds = [Kind::Train, Kind::Test, Kind::Validation];
    let [train_loss, test_loss, held_loss] = kinds.map(|kind| points(rows, kind, |r| r.loss));
    let [train_acc, test_acc, held_acc] = kinds.map(|kind| points(rows, kind, |r| Some(r.accuracy * 100.0)));
    let top_loss = [&train_loss, &test_loss, &held_loss]
        .into_iter()
        .flatten()
        .map(|p| p.1)
        .fold(0.0f64, f64::max)
        .max(1e-3)
        * 1.05;
    let (lower, upper) = accuracy_range(rows);
    let cut = [&train_acc, &test_acc, &held_acc].into_iter().flatten().any(|p| p.1 < lower);
    let rates = points(rows, Kind::Train, |r| Some(r.learning_rate as f64));
    let top_rate = rates.iter().map(|p| p.1).fold(0.0f64, f64::max);
    let constant = rates.iter().all(|p| p.1 == top_rate);
    let top_rate = if top_rate > 0.0 { top_rate * 1.1 } else { 1.0 };
    let every = rows_per_row(rows);
    let ends = epoch_ends(rows);
    // Where an epoch ends and the next begins: every end but the last.
    let boundaries: Vec<f64> = ends.iter().rev().skip(1).rev().map(|e| e.1 as f64).collect();
    let steps = 0f64..last_step;
    let per_epoch = |color: RGBColor, label: &str| (color, true, format!("{label} (after each epoch)"));
    Picture::draw(WIDTH, HEIGHT, |area| {
        let (top, rest) = area.split_vertically(LOSS_HEIGHT);
        let (middle, bottom) = rest.split_vertically(ACCURACY_HEIGHT);
        let dashed = EPOCH_LINE.stroke_width(1);
        let mark_epochs = |chart: &mut Chart, y: &Range<f64>| {
            boundaries.iter().try_for_each(|&x| {
                chart.draw_series(DashedLineSeries::new([(x, y.start), (x, y.end)], 5, 4, dashed)).map(|_| ())
            })
        };

        // The loss.
        let (_, body) = top.split_vertically(HEAD);
        let range = 0f64..top_loss;
        let mut loss_chart =
            chart(&body, (steps.clone(), range.clone()), "loss", &|v| format!("{v:.1}"), 10)?;
        mark_epochs(&mut loss_chart, &range)?;
        loss_chart.draw_series(LineSeries::new(train_loss.iter().copied(), BLUE.stroke_width(2)))?;
        for (points, color) in [(&held_loss, GREEN), (&test_loss, RED)] {
            loss_chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
        }
        let (xs, ys) = loss_chart.plotting_area().get_pixel_range();
        area.draw_text("loss", &text(TITLE), (xs.start, 8))?;
        let mut entries = vec![(BLUE, false, format!("training (mean over each {every})"))];
        if !test_loss.is_empty() {
            entries.push(per_epoch(RED, "test set"));
        }
        if !held_loss.is_empty() {
            entries.push((GREEN, true, "validation".to_string()));
        }
        legend(area, xs.end, 8 + TITLE as i32 / 2, &entries)?;
        // Each epoch's name over its span, where it fits.
        let mut start = xs.start;
        for &(epoch, end) in &ends {
            let x_end = loss_chart.backend_coord(&(end as f64, 0.0)).0;
            let label = format!("epoch {epoch}");
            if text_size(&label, SMALL).0 as i32 + 6 <= x_end - start {
                let style = text_at(SMALL, HPos::Center, VPos::Bottom).color(&GRAY);
                area.draw_text(&label, &style, ((start + x_end) / 2, ys.start - 4))?;
            }
            start = x_end;
        }

        // The accuracy.
        let base = LOSS_HEIGHT as i32;
        let (_, body) = middle.split_vertically(HEAD);
        let fine = upper - lower < 6.0;
        let percent_label = |v: &f64| if fine { format!("{v:.1}") } else { format!("{v:.0}") };
        let grid = ((upper - lower) / grid_step(upper - lower)).round() as usize + 1;
        let range = lower..upper;
        let mut accuracy_chart =
            chart(&body, (steps.clone(), range.clone()), "accuracy (%)", &percent_label, grid)?;
        mark_epochs(&mut accuracy_chart, &range)?;
        for (points, color) in [(&train_acc, BLUE), (&held_acc, GREEN), (&test_acc, RED)] {
            for run in clip(points, &range) {
                accuracy_chart.draw_series(LineSeries::new(run, color.stroke_width(2)))?;
            }
        }
        for (points, color) in [(&held_acc, GREEN), (&test_acc, RED)] {
            let shown = points.iter().filter(|p| range.contains(&p.1) || p.1 == upper);
            accuracy_chart.draw_series(shown.map(|&p| Circle::new(p, 4, color.filled())))?;
        }
        let (xs, ys) = accuracy_chart.plotting_area().get_pixel_range();
        let mut title = "accuracy".to_string();
        if cut {
            title.push_str(&format!(" (from {}%: earlier steps are below)", percent_label(&lower)));
        }
        area.draw_text(&title, &text(TITLE), (xs.start, base + 8))?;
        let mut entries =
            vec![(BLUE, false, "training (recent steps)".to_string()), per_epoch(RED, "test set")];
        if !held_acc.is_empty() {
            entries.push((GREEN, true, "validation".to_string()));
        }
        legend(area, xs.end, base + 8 + TITLE as i32 / 2, &entries)?;
        // Each test accuracy above its point, where it does not overlap the one before.
        let mut free_from = xs.start;
        for &(step, accuracy) in &test_acc {
            let label = format!("{accuracy:.2}%");
            let w = text_size(&label, SMALL).0 as i32;
            let x = accuracy_chart.backend_coord(&(step, lower)).0;
            let left = (x - w / 2).clamp(xs.start, xs.end - w);
            if left >= free_from {
                let style = text_at(SMALL, HPos::Left, VPos::Bottom).color(&RED);
                area.draw_text(&label, &style, (left, ys.start - 4))?;
                free_from = left + w + 8;
            }
        }

        // The learning rate.
        let base = (LOSS_HEIGHT + ACCURACY_HEIGHT) as i32;
        let (_, body) = bottom.split_vertically(HEAD);
        let digits = (-top_rate.log10().floor()).max(0.0) as usize + 1;
        let rate_label = move |v: &f64| format!("{v:.digits$}");
        let range = 0f64..top_rate;
        let mut rate_chart = chart(&body, (steps.clone(), range.clone()), "rate", &rate_label, 4)?;
        mark_epochs(&mut rate_chart, &range)?;
        rate_chart.draw_series(LineSeries::new(rates.iter().copied(), GRAY.stroke_width(2)))?;
        let xs = rate_chart.plotting_area().get_pixel_range().0;
        let first = rows.iter().find(|r| r.kind == Kind::Train).map(|r| r.learning_rate);
        let title = match (constant, first) {
            (true, Some(rate)) => format!("learning rate (constant, {rate})"),
            _ => "learning rate".to_string(),
        };
        area.draw_text(&title, &text(TITLE), (xs.start, base + 8))?;
        Ok(())
    })
}

/// "20 steps": the usual number of steps between train rows, for the caption.
fn rows_per_row(rows: &[Row]) -> String {
    let train: Vec<&Row> = rows.iter().filter(|r| r.kind == Kind::Train).collect();
    let mut gaps: Vec<usize> =
        train.windows(2).filter(|w| w[0].epoch == w[1].epoch).map(|w| w[1].step - w[0].step).collect();
    gaps.sort_unstable();
    match gaps.get(gaps.len() / 2) {
        Some(1) => "step".into(),
        Some(n) => format!("{n} steps"),
        None => "row's steps".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `epochs` epochs of `steps` steps, a train row every 10 steps climbing from 10% to
    /// `settled`% in the first fifth, a test row at each epoch's end.
    fn run(epochs: usize, steps: usize, settled: f64) -> Vec<Row> {
        let mut rows = Vec::new();
        for epoch in 1..=epochs {
            for s in (10..=steps).step_by(10) {
                let step = (epoch - 1) * steps + s;
                let climb = (step as f64 / (steps * epochs) as f64 * 5.0).min(1.0);
                let wobble = if s % 20 == 0 { 0.5 } else { -0.5 };
                let accuracy = (10.0 + (settled - 10.0) * climb + wobble * climb) / 100.0;
                rows.push(Row {
                    kind: Kind::Train,
                    epoch,
                    step,
                    loss: Some(2.3 * (1.0 - climb) + 0.05),
                    accuracy,
                    images_per_s: None,
                    learning_rate: 0.01,
                });
            }
            let accuracy = (settled - 1.0 + 0.5 * epoch as f64) / 100.0;
            let step = epoch * steps;
            rows.push(Row {
                kind: Kind::Test,
                epoch,
                step,
                loss: None,
                accuracy,
                images_per_s: None,
                learning_rate: 0.01,
            });
        }
        rows
    }

    #[test]
    fn the_accuracy_axis_is_zoomed_to_where_the_run_settled() {
        // One epoch climbing from 10% to 98%: the axis shows 97-99% large, not 0-100.
        let (lower, upper) = accuracy_range(&run(1, 900, 98.0));
        assert!((94.0..=97.0).contains(&lower) && (98.5..=100.5).contains(&upper), "{lower}..{upper}");
        assert!(upper - lower <= 6.0, "{lower}..{upper}");
        // A run that settles at 60% has its axis there.
        let (lower, upper) = accuracy_range(&run(3, 300, 60.0));
        assert!((50.0..=59.0).contains(&lower) && (61.0..=70.0).contains(&upper), "{lower}..{upper}");
        // The test accuracies count whenever they come: an early low one widens the axis.
        let mut rows = run(2, 300, 98.0);
        rows.iter_mut().find(|r| r.kind == Kind::Test).unwrap().accuracy = 0.90;
        assert!(accuracy_range(&rows).0 <= 90.0);
        // At 100%: still a range, topped at 100.5.
        let perfect: Vec<Row> = run(1, 100, 98.0).into_iter().map(|r| Row { accuracy: 1.0, ..r }).collect();
        let (lower, upper) = accuracy_range(&perfect);
        assert!(lower < 100.0 && upper == 100.5, "{lower}..{upper}");
        assert_eq!(accuracy_range(&[]), (0.0, 100.5));
    }

    #[test]
    fn lines_are_cut_where_they_leave_the_axis() {
        let points = [(0.0, 10.0), (10.0, 90.0), (20.0, 98.0), (30.0, 80.0), (40.0, 97.0)];
        let runs = clip(&points, &(95.0..100.0));
        assert_eq!(runs.len(), 2, "{runs:?}");
        assert_eq!(runs[0].first(), Some(&(10.0 + 10.0 * 5.0 / 8.0, 95.0)));
        assert_eq!(runs[0][1], (20.0, 98.0));
        assert_eq!(runs[1].last(), Some(&(40.0, 97.0)));
        assert!(runs.iter().flatten().all(|p| (95.0..=100.0).contains(&p.1)));
    }

    /// Columns holding at least `n` pixels of `color`.
    fn columns_of(picture: &Picture, color: RGBColor, n: usize) -> Vec<u32> {
        let (w, h) = (picture.width as usize, picture.height as usize);
        let is = |x: usize, y: usize| picture.rgb[(y * w + x) * 3..][..3] == [color.0, color.1, color.2];
        (0..w).filter(|&x| (0..h).filter(|&y| is(x, y)).count() >= n).map(|x| x as u32).collect()
    }

    #[test]
    fn epoch_boundaries_are_marked_in_both_charts() {
        let one = draw(&run(1, 300, 97.0)).unwrap();
        assert!(columns_of(&one, EPOCH_LINE, 60).is_empty(), "one epoch, no boundary");
        let three = draw(&run(3, 300, 97.0)).unwrap();
        let columns = columns_of(&three, EPOCH_LINE, 2 * 60);
        assert_eq!(columns.len(), 2, "two boundaries, dashed down both charts: {columns:?}");
        // At a third and two thirds of the steps.
        let third = (columns[1] - columns[0]) as i32;
        assert!((columns[0] as i32 - 60 - 12 - third).abs() < 30, "{columns:?}");
    }

    #[test]
    fn labels_and_legend_stay_above_the_charts() {
        // The red of the test accuracies' labels and of the legend is above the accuracy chart's
        // plot; inside it there is only the test line and its points.
        let picture = draw(&run(3, 300, 97.0)).unwrap();
        let (w, h) = (picture.width as usize, picture.height as usize);
        let red_rows: Vec<usize> = (0..h)
            .filter(|&y| (0..w).any(|x| picture.rgb[(y * w + x) * 3..][..3] == [RED.0, RED.1, RED.2]))
            .collect();
        let (start, head) = (LOSS_HEIGHT as usize, (LOSS_HEIGHT + HEAD) as usize);
        let above: Vec<usize> = red_rows.iter().copied().filter(|&y| (start..head).contains(&y)).collect();
        assert!(!above.is_empty(), "the legend and the labels are in the head band");
        // No line reaches the head band: its only blue is the legend's sample, 2 pixels high.
        let blue_rows = (start..head)
            .filter(|&y| (0..w).any(|x| picture.rgb[(y * w + x) * 3..][..3] == [BLUE.0, BLUE.1, BLUE.2]))
            .count();
        assert!((1..=3).contains(&blue_rows), "{blue_rows} rows of blue above the accuracy chart");
    }
}
