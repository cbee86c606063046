//! The figures `train` and `eval` write besides their usual output: the metrics log and training
//! curves (`train --metrics/--plot`), the confusion matrix (`eval --confusion`), the images it
//! got wrong (`eval --misclassified`) and accuracy under translation (`eval --shift/--shift-plot`).

use super::outputs;
use anyhow::{Context, Result};
use lenet_gpu::data::Dataset;
use lenet_gpu::evaluation::Mistake;
use lenet_gpu::invariance::ShiftGrid;
use lenet_gpu::metrics::MetricsLog;
use lenet_gpu::session::{Evaluation, Session};
use lenet_gpu::viz;
use std::path::{Path, PathBuf};

/// `train --metrics FILE --metrics-every N --plot FILE`.
pub struct TrainFigures {
    pub log: MetricsLog,
    plot: Option<PathBuf>,
    /// Whether a metrics write failed (the file stopped there).
    metrics_failed: bool,
    /// Why the last drawing of the curves failed, if it did.
    plot_failure: Option<String>,
}

impl TrainFigures {
    /// None when neither file is asked for. `resumed_after` is the epoch a `--resume` continues
    /// from: the metrics file keeps its rows up to that epoch.
    pub fn new(
        metrics: Option<&Path>,
        every: usize,
        plot: Option<&Path>,
        batch_size: usize,
        learning_rate: f32,
        resumed_after: Option<usize>,
    ) -> Result<Option<TrainFigures>> {
        if metrics.is_none() && plot.is_none() {
            return Ok(None);
        }
        let previous = match (metrics, resumed_after) {
            (Some(path), Some(epoch)) => MetricsLog::rows_to_keep(path, epoch)
                .with_context(|| format!("cannot continue the metrics in {}", path.display()))?,
            _ => Vec::new(),
        };
        // The file passed the check before any work, so a failure to start it now (a full disk,
        // /dev/full) is a side output failing: a warning, and the run goes on without it.
        let (log, metrics_failed) =
            match MetricsLog::new(metrics, every, batch_size, learning_rate, previous.clone()) {
                Ok(log) => (log, false),
                Err(e @ lenet_gpu::Error::Io { .. }) => {
                    outputs::warn(
                        &anyhow::Error::new(e).context("the metrics file was not written (training goes on)"),
                    );
                    (MetricsLog::new(None, every, batch_size, learning_rate, previous)?, true)
                }
                Err(e) => return Err(e.into()),
            };
        let plot = plot.map(Path::to_path_buf);
        Ok(Some(TrainFigures { log, plot, metrics_failed, plot_failure: None }))
    }

    /// After each epoch: warns of a failed metrics write, and redraws the curves (warning when
    /// that fails, once for each different problem). Neither stops training.
    pub fn epoch_done(&mut self) {
        if let Err(e) = self.log.check() {
            self.metrics_failed = true;
            let e = anyhow::Error::new(e).context("the metrics file stopped here (training goes on)");
            outputs::warn(&e);
        }
        if let Some(path) = &self.plot {
            let drawn = viz::curves::draw(self.log.rows()).and_then(|picture| picture.save(path));
            let failure = drawn
                .context("the training curves were not drawn (training goes on)")
                .err()
                .map(|e| super::hints::explain(&e));
            if let Some(why) = failure.as_ref().filter(|&f| Some(f) != self.plot_failure.as_ref()) {
                eprintln!("warning: {why}");
            }
            self.plot_failure = failure;
        }
    }

    /// What was written, for the closing lines.
    pub fn describe(&self, metrics: Option<&Path>) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(path) = metrics.filter(|_| !self.metrics_failed) {
            lines.push(format!("metrics written to {}", outputs::name(path)));
        }
        if let Some(path) = self.plot.as_ref().filter(|_| self.plot_failure.is_none()) {
            lines.push(format!("training curves drawn in {}", path.display()));
        }
        lines
    }
}

/// `eval --confusion FILE`.
/// A failure to draw it is a warning: the evaluation printed is the command's result.
pub fn confusion(evaluation: &Evaluation, class_name: &dyn Fn(usize) -> String, path: &Path) {
    let drawn = viz::confusion::draw(evaluation, class_name).and_then(|picture| picture.save(path));
    match drawn.context("the confusion matrix was not drawn") {
        Ok(()) => println!("\nconfusion matrix drawn in {}", path.display()),
        Err(e) => outputs::warn(&e),
    }
}

/// `eval --misclassified FILE`: the gallery of `mistakes` (most confident first) among `test`.
/// A failure to draw it is a warning, as for `confusion`.
pub fn misclassified(
    test: &Dataset,
    mistakes: &[Mistake],
    class_name: &dyn Fn(usize) -> String,
    path: &Path,
) {
    let drawn = viz::gallery::draw(test, mistakes, class_name).and_then(|picture| picture.save(path));
    let shown = mistakes.len().min(viz::gallery::MAX_SHOWN);
    match drawn.context("the misclassified images were not drawn") {
        Ok(()) if mistakes.is_empty() => {
            println!("\nmisclassified: none of {} test images (drawn in {})", test.len(), path.display())
        }
        Ok(()) => {
            let (wrong, total, path) = (mistakes.len(), test.len(), path.display());
            match shown < wrong {
                true => println!(
                    "\nmisclassified: {wrong} of {total} test images; the {shown} most confident mistakes drawn in {path}"
                ),
                false => println!(
                    "\nmisclassified: {wrong} of {total} test images, drawn in {path} (the most confident mistakes first)"
                ),
            }
        }
        Err(e) => outputs::warn(&e),
    }
}

/// `eval --shift MAX [--shift-plot FILE]`: the accuracy for every shift, as a table and a
/// summary per distance.
pub fn shift(session: &mut Session, test: &Dataset, max: usize, plot: Option<&Path>) -> Result<()> {
    let shifts = (2 * max + 1).pow(2);
    let bar = indicatif::ProgressBar::new(shifts as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "shifted copies of the test set: [{bar:30}] {pos}/{len}, ETA {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    let grid = session.evaluate_shifts(test, max, &mut |done, _| bar.set_position(done as u64))?;
    bar.finish_and_clear();
    print!("{}", shift_table(&grid));
    if let Some(path) = plot {
        // A failure to draw it is a warning: the table printed is the command's result.
        let drawn = viz::shift::draw(&grid).and_then(|picture| picture.save(path));
        match drawn.context("the shift plot was not drawn") {
            Ok(()) => println!("shift plot drawn in {}", path.display()),
            Err(e) => outputs::warn(&e),
        }
    }
    Ok(())
}

/// The accuracy grid and the summary per distance, as printed.
pub fn shift_table(grid: &ShiftGrid) -> String {
    let m = grid.max as i32;
    let mut out = String::from(
        "\ntest accuracy (%) with every image shifted dx pixels right and dy pixels down (zero fill):\n",
    );
    out.push_str(&format!("{:>7}", "dy\\dx"));
    for dx in -m..=m {
        out.push_str(&format!("{dx:>7}"));
    }
    out.push('\n');
    for dy in -m..=m {
        out.push_str(&format!("{dy:>7}"));
        for dx in -m..=m {
            out.push_str(&format!("{:>7.2}", grid.at(dx, dy) * 100.0));
        }
        out.push('\n');
    }
    out.push_str("\nby distance max(|dx|, |dy|):\n");
    for r in grid.rings() {
        out.push_str(&format!(
            "  {} px: {:>3} {:<7} mean {:>6.2}%, worst {:>6.2}% at ({}, {})\n",
            r.distance,
            r.shifts,
            if r.shifts == 1 { "shift," } else { "shifts," },
            r.mean * 100.0,
            r.worst * 100.0,
            r.worst_at.0,
            r.worst_at.1
        ));
    }
    out
}
