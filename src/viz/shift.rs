//! `lenet eval --shift-plot`: accuracy under translation. On the left, a heat map of the accuracy
//! for each shift (dx right, dy down), printed in its cell; on the right, the mean and the worst
//! accuracy against the distance of the shift (max(|dx|, |dy|)).

use super::{FAMILY, Picture, blues, fill_rect, ink_on, outline_rect, text, text_at};
use crate::Result;
use crate::invariance::ShiftGrid;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

const MARGIN: i32 = 16;
const TITLE: u32 = 16;
const SMALL: u32 = 12;
const CHART_W: i32 = 380;

/// The figure for `grid`.
pub fn draw(grid: &ShiftGrid) -> Result<Picture> {
    let side = grid.side() as i32;
    let cell = (480 / side).clamp(10, 48);
    let numbers = cell >= 36;
    let (left, top) = (MARGIN + 40, MARGIN + TITLE as i32 + 14 + 34);
    let map = side * cell;
    let width = left + map + 30 + CHART_W + MARGIN;
    let height = (top + map + 40 + MARGIN).max(top + 300);
    let m = grid.max as i32;
    // Colours run from the worst accuracy on the grid (white) to the best (dark blue).
    let (lo, hi) = grid.accuracy.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &a| (lo.min(a), hi.max(a)));
    let span = (hi - lo).max(1e-9);
    let rings = grid.rings();
    Picture::draw(width as u32, height as u32, |area| {
        let title = format!("test accuracy of images shifted by up to {} pixels", grid.max);
        area.draw_text(&title, &text(TITLE), (MARGIN, MARGIN))?;
        let note = format!("white {:.1}% .. dark blue {:.1}%", lo * 100.0, hi * 100.0);
        area.draw_text(&note, &text(SMALL), (MARGIN, MARGIN + TITLE as i32 + 4))?;
        area.draw_text(
            "dx (pixels right)",
            &text_at(SMALL + 1, HPos::Center, VPos::Top),
            (left + map / 2, top - 34),
        )?;
        let side_label = text_at(SMALL + 1, HPos::Center, VPos::Center).transform(FontTransform::Rotate270);
        area.draw_text("dy (pixels down)", &side_label, (MARGIN + 4, top + map / 2))?;
        for (i, d) in (-m..=m).enumerate() {
            let at = i as i32 * cell + cell / 2;
            area.draw_text(
                &d.to_string(),
                &text_at(SMALL, HPos::Center, VPos::Bottom),
                (left + at, top - 4),
            )?;
            area.draw_text(&d.to_string(), &text_at(SMALL, HPos::Right, VPos::Center), (left - 6, top + at))?;
        }
        for (&(dx, dy), &accuracy) in ShiftGrid::shifts(grid.max).iter().zip(&grid.accuracy) {
            let (x, y) = (left + (dx + m) * cell, top + (dy + m) * cell);
            let color = blues(((accuracy - lo) / span) as f32 * 0.9 + 0.1);
            fill_rect(area, (x, y), (cell, cell), color)?;
            if numbers {
                let ink = ink_on(color);
                let style = text_at(11, HPos::Center, VPos::Center).color(&ink);
                area.draw_text(&format!("{:.1}", accuracy * 100.0), &style, (x + cell / 2, y + cell / 2))?;
            }
        }
        outline_rect(area, (left, top), (map, map), RGBColor(120, 120, 120))?;

        let chart_area = area.margin(top - 20, MARGIN, left + map + 30, MARGIN);
        let floor = ((lo * 100.0 / 10.0).floor() * 10.0).clamp(0.0, 90.0);
        let mut chart = ChartBuilder::on(&chart_area)
            .caption("by distance max(|dx|, |dy|)", (FAMILY, 14))
            .margin(8)
            .x_label_area_size(34)
            .y_label_area_size(50)
            .build_cartesian_2d(-0.2f64..grid.max as f64 + 0.2, floor..100.5f64)?;
        chart
            .configure_mesh()
            .x_desc("distance (pixels)")
            .y_desc("accuracy (%)")
            .y_label_formatter(&|v| format!("{v:.0}"))
            .x_labels(grid.max + 1)
            .x_label_formatter(&|v| format!("{v:.0}"))
            .label_style((FAMILY, 12))
            .axis_desc_style((FAMILY, 13))
            .light_line_style(WHITE)
            .draw()?;
        let blue = RGBColor(33, 102, 172);
        let red = RGBColor(178, 24, 43);
        let mean: Vec<(f64, f64)> = rings.iter().map(|r| (r.distance as f64, r.mean * 100.0)).collect();
        let worst: Vec<(f64, f64)> = rings.iter().map(|r| (r.distance as f64, r.worst * 100.0)).collect();
        chart
            .draw_series(LineSeries::new(mean.iter().copied(), blue.stroke_width(2)))?
            .label("mean")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], blue.stroke_width(2)));
        chart.draw_series(mean.iter().map(|&p| Circle::new(p, 3, blue.filled())))?;
        chart
            .draw_series(LineSeries::new(worst.iter().copied(), red.stroke_width(2)))?
            .label("worst")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], red.stroke_width(2)));
        chart.draw_series(worst.iter().map(|&p| Circle::new(p, 3, red.filled())))?;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerLeft)
            .label_font((FAMILY, 12))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(160, 160, 160))
            .draw()?;
        Ok(())
    })
}
