//! `lenet train --plot`: the training curves of a metrics log (`metrics`), two charts over the
//! training steps: the training loss, and the training and test accuracy.

use super::{FAMILY, Picture};
use crate::metrics::{Kind, Row};
use crate::{Error, Result};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

const WIDTH: u32 = 800;
const HEIGHT: u32 = 640;

/// The curves of `rows` (as `metrics::read` or `MetricsLog::rows` give them).
pub fn draw(rows: &[Row]) -> Result<Picture> {
    let train: Vec<&Row> = rows.iter().filter(|r| r.kind == Kind::Train).collect();
    let test: Vec<&Row> = rows.iter().filter(|r| r.kind == Kind::Test).collect();
    if train.is_empty() && test.is_empty() {
        return Err(Error::InvalidArgument("there are no metrics to plot yet".into()));
    }
    let finite = |v: f64| v.is_finite().then_some(v);
    let last_step = rows.iter().map(|r| r.step).max().unwrap_or(1).max(1) as f64;
    let losses: Vec<(f64, f64)> =
        train.iter().filter_map(|r| Some((r.step as f64, finite(r.loss?)?))).collect();
    let top_loss = losses.iter().map(|p| p.1).fold(0.0f64, f64::max).max(1e-3) * 1.05;
    let percent = |rows: &[&Row]| -> Vec<(f64, f64)> {
        rows.iter().filter_map(|r| Some((r.step as f64, finite(r.accuracy)? * 100.0))).collect()
    };
    let (train_acc, test_acc) = (percent(&train), percent(&test));
    let lowest = train_acc.iter().chain(&test_acc).map(|p| p.1).fold(100.0f64, f64::min);
    let floor = ((lowest / 10.0).floor() * 10.0).clamp(0.0, 90.0);
    let every = rows_per_row(&train);
    Picture::draw(WIDTH, HEIGHT, |area| {
        let (top, bottom) = area.split_vertically(HEIGHT / 2);
        let blue = RGBColor(33, 102, 172);
        let red = RGBColor(178, 24, 43);
        let mut chart = ChartBuilder::on(&top)
            .caption(format!("training loss (mean over each {every})"), (FAMILY, 16))
            .margin(12)
            .x_label_area_size(34)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..last_step, 0f64..top_loss)?;
        chart
            .configure_mesh()
            .x_desc("step")
            .y_desc("loss")
            .label_style((FAMILY, 12))
            .axis_desc_style((FAMILY, 13))
            .light_line_style(WHITE)
            .x_label_formatter(&|v| format!("{v:.0}"))
            .draw()?;
        chart.draw_series(LineSeries::new(losses.iter().copied(), blue.stroke_width(2)))?;

        let mut chart = ChartBuilder::on(&bottom)
            .caption("accuracy", (FAMILY, 16))
            .margin(12)
            .x_label_area_size(34)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..last_step, floor..100.5f64)?;
        chart
            .configure_mesh()
            .x_desc("step")
            .y_desc("accuracy (%)")
            .y_label_formatter(&|v| format!("{v:.0}"))
            .label_style((FAMILY, 12))
            .axis_desc_style((FAMILY, 13))
            .light_line_style(WHITE)
            .x_label_formatter(&|v| format!("{v:.0}"))
            .draw()?;
        chart
            .draw_series(LineSeries::new(train_acc.iter().copied(), blue.stroke_width(2)))?
            .label("training (recent steps)")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], blue.stroke_width(2)));
        chart
            .draw_series(LineSeries::new(test_acc.iter().copied(), red.stroke_width(2)))?
            .label("test set (after each epoch)")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], red.stroke_width(2)));
        chart.draw_series(test_acc.iter().map(|&p| Circle::new(p, 4, red.filled())))?;
        let label =
            TextStyle::from((FAMILY, 12).into_font()).color(&red).pos(Pos::new(HPos::Right, VPos::Bottom));
        chart.draw_series(
            test_acc.iter().map(|&(x, y)| Text::new(format!("{y:.2}%  "), (x, y), label.clone())),
        )?;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .label_font((FAMILY, 12))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(160, 160, 160))
            .draw()?;
        Ok(())
    })
}

/// "20 steps": the usual number of steps between train rows, for the caption.
fn rows_per_row(train: &[&Row]) -> String {
    let mut gaps: Vec<usize> =
        train.windows(2).filter(|w| w[0].epoch == w[1].epoch).map(|w| w[1].step - w[0].step).collect();
    gaps.sort_unstable();
    match gaps.get(gaps.len() / 2) {
        Some(1) => "step".into(),
        Some(n) => format!("{n} steps"),
        None => "row's steps".into(),
    }
}
