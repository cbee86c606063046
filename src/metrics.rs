//! `lenet train --metrics FILE.csv`: training figures as a CSV file, written as training goes.
//!
//! The file starts with the header [`HEADER`]; each row is one of two kinds:
//!
//! - `train`: every `--metrics-every` steps, and once at the end of each epoch for the steps left
//!   over, the mean training loss per image and the fraction of images classified right over the
//!   steps since the previous `train` row, with the images per second they took (steps left over
//!   holding under half a row's images join the row before them: no row of a handful of images);
//! - `test`: after each epoch, the mean loss and the accuracy on the test set (the loss computed
//!   from the logits, as `evaluation::mean_cross_entropy` does), with the epoch's training images
//!   per second;
//! - `validation`: likewise on the validation split (`train --validation`), before the epoch's
//!   `test` row, only in a run that holds one out.
//!
//! `step` counts training steps from the start of the run (epoch e's steps follow epoch e-1's,
//! also after a resume) and names the last step a row covers; `accuracy` is a fraction in [0, 1];
//! `learning_rate` is the rate of the row's last step (the optimizer's, or with a schedule
//! (`follow_schedule`) the schedule's at that step). Each row is written and flushed as soon as it is known,
//! so a crash loses nothing written before it. The rows' per-step figures come from the engine's
//! progress reports (`train::Progress`), which the GPU path makes from the loss statistics it
//! reads back a few times per epoch: asking for rows often costs it nothing.

use crate::error::Remedy;
use crate::model::optimizer::Optimizer;
use crate::model::schedule::UpdateRule;
use crate::train::{EpochReport, Observer, Progress};
use crate::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The CSV header, the first line of every metrics file.
pub const HEADER: &str = "kind,epoch,step,loss,accuracy,images_per_s,learning_rate";

/// What a row measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Training figures over the steps since the previous `train` row.
    Train,
    /// Test-set accuracy after an epoch.
    Test,
    /// The validation split's (`train --validation`) after an epoch.
    Validation,
}

/// One row of a metrics file.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub kind: Kind,
    pub epoch: usize,
    pub step: usize,
    /// Mean loss per image (`train` rows only).
    pub loss: Option<f64>,
    pub accuracy: f64,
    pub images_per_s: Option<f64>,
    pub learning_rate: f32,
}

impl Row {
    /// The row as a CSV line, without the newline.
    pub fn to_csv(&self) -> String {
        let kind = match self.kind {
            Kind::Train => "train",
            Kind::Test => "test",
            Kind::Validation => "validation",
        };
        let loss = self.loss.map_or(String::new(), |l| format!("{l:.6}"));
        let rate = self.images_per_s.map_or(String::new(), |r| format!("{r:.1}"));
        format!(
            "{kind},{},{},{loss},{:.6},{rate},{}",
            self.epoch, self.step, self.accuracy, self.learning_rate
        )
    }

    /// Parses a line written by `to_csv`.
    pub fn parse(line: &str) -> std::result::Result<Row, String> {
        let fields: Vec<&str> = line.trim_end().split(',').collect();
        if fields.len() != 7 {
            return Err(format!("expected 7 fields, found {}", fields.len()));
        }
        let kind = match fields[0] {
            "train" => Kind::Train,
            "test" => Kind::Test,
            "validation" => Kind::Validation,
            other => return Err(format!("unknown kind {other:?} (train, test or validation)")),
        };
        fn number<T: std::str::FromStr>(name: &str, s: &str) -> std::result::Result<T, String> {
            s.parse().map_err(|_| format!("{name} {s:?} is not a number"))
        }
        let optional = |name: &str, s: &str| if s.is_empty() { Ok(None) } else { number(name, s).map(Some) };
        Ok(Row {
            kind,
            epoch: number("epoch", fields[1])?,
            step: number("step", fields[2])?,
            loss: optional("loss", fields[3])?,
            accuracy: number("accuracy", fields[4])?,
            images_per_s: optional("images_per_s", fields[5])?,
            learning_rate: number("learning_rate", fields[6])?,
        })
    }
}

/// Reads a metrics file written by `lenet train --metrics`.
pub fn read(path: &Path) -> Result<Vec<Row>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    // A picture given for the CSV (`show curves curves.png`) is named for what it is.
    let problem = match bytes.starts_with(b"\x89PNG") {
        true => "is a PNG picture, not a metrics file",
        false => "not a metrics file",
    };
    let not_metrics = || Error::bad_data_remedy(path, problem, Remedy::MetricsFile(HEADER));
    let text = String::from_utf8(bytes).map_err(|_| not_metrics())?;
    let mut lines = text.lines();
    match lines.next() {
        Some(h) if h.trim_end() == HEADER => {}
        _ => return Err(not_metrics()),
    }
    parse(lines).map_err(|problem| Error::bad_data(path, problem))
}

/// The rows after the header line.
fn parse(lines: std::str::Lines) -> std::result::Result<Vec<Row>, String> {
    lines
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| Row::parse(l).map_err(|e| format!("line {}: {e}", i + 2)))
        .collect()
}

/// An `Observer` that turns training progress into rows, keeps them, and appends each to a CSV
/// file (if it has one) as soon as it is known.
pub struct MetricsLog {
    /// Where rows go, until a write fails.
    file: Option<(PathBuf, Box<dyn Write>)>,
    every: usize,
    batch_size: usize,
    learning_rate: f32,
    /// The schedule the rates follow, if set.
    schedule: Option<(Optimizer, UpdateRule)>,
    rows: Vec<Row>,
    epoch: usize,
    steps_per_epoch: usize,
    /// The images the epoch trains on.
    epoch_images: usize,
    /// The totals when the last `train` row was written, and the latest ones.
    row_start: Progress,
    latest: Progress,
    /// When an epoch starts over mid-way (`--device auto` moving to the CPU path after a GPU
    /// failure), the step of the last row written: rows resume from the new run's totals there.
    rebase_at: Option<usize>,
    /// The write that failed (the last one tried): observers cannot return errors, so `check`
    /// reports it.
    error: Option<Error>,
}

impl MetricsLog {
    /// A log with a `train` row every `every` steps of `batch_size` images, written to `path`
    /// if given (created, or emptied, with the header; `-` is standard output). `previous` are
    /// rows to keep from an earlier run (for `--resume`): they are written first.
    pub fn new(
        path: Option<&Path>,
        every: usize,
        batch_size: usize,
        learning_rate: f32,
        previous: Vec<Row>,
    ) -> Result<MetricsLog> {
        if every == 0 || batch_size == 0 {
            return Err(Error::InvalidArgument("metrics need rows of at least 1 step".into()));
        }
        let file = match path {
            None => None,
            Some(path) => {
                let mut text = format!("{HEADER}\n");
                for row in &previous {
                    text.push_str(&row.to_csv());
                    text.push('\n');
                }
                // The kept rows go in atomically; rows of this run are appended one by one.
                Some((path.to_path_buf(), crate::output::start_log(path, text.as_bytes())?))
            }
        };
        Ok(MetricsLog {
            file,
            every,
            batch_size,
            learning_rate,
            schedule: None,
            rows: previous,
            epoch: 0,
            steps_per_epoch: 0,
            epoch_images: 0,
            row_start: Progress::default(),
            latest: Progress::default(),
            rebase_at: None,
            error: None,
        })
    }

    /// For `train --resume` after epoch `epoch`: the rows of `path` up to that epoch, if the file
    /// exists (rows of later epochs come from a run that went on past its last checkpoint, and
    /// will be written again). A file that is not a metrics file is an error, not overwritten.
    pub fn rows_to_keep(path: &Path, epoch: usize) -> Result<Vec<Row>> {
        if crate::output::is_stdout(path) || !path.exists() {
            return Ok(Vec::new());
        }
        let rows = read(path)?;
        Ok(rows.into_iter().filter(|r| r.epoch <= epoch).collect())
    }

    /// Makes each row's `learning_rate` the rate `rule` gives `optimizer` at the row's last step
    /// (its number in the run is the optimizer's update count before it).
    pub fn follow_schedule(&mut self, optimizer: Optimizer, rule: UpdateRule) {
        self.schedule = Some((optimizer, rule));
    }

    /// The learning rate of step `step` of the run (counted from 1).
    fn rate_at(&self, step: usize) -> f32 {
        match &self.schedule {
            Some((optimizer, rule)) => rule.rates(optimizer, step.saturating_sub(1) as u64).lr,
            None => self.learning_rate,
        }
    }

    /// Every row so far (the kept ones first).
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// Fails with the first error writing a row met, if any.
    pub fn check(&mut self) -> Result<()> {
        self.error.take().map_or(Ok(()), Err)
    }

    fn push(&mut self, row: Row) {
        let line = row.to_csv();
        if let Some((path, file)) = &mut self.file
            && let Err(e) = writeln!(file, "{line}").and_then(|()| file.flush())
        {
            // No more rows go to the file (a gap would read as a shorter run); they are kept here.
            self.error = Some(Error::io(path.clone(), e));
            self.file = None;
        }
        // Kept as written (rounded), so curves drawn from memory are those drawn from the file.
        self.rows.push(Row::parse(&line).unwrap_or(row));
    }

    /// Whether the epoch's images left after `progress` are too few for a row of their own (under
    /// half a row's): they join this row at the epoch's end, so that no point of the curves rests
    /// on a handful of images (the epoch's short last step).
    fn short_remainder(&self, progress: Progress) -> bool {
        let left = self.epoch_images.saturating_sub(progress.images_done);
        left > 0 && 2 * left < self.every * self.batch_size
    }

    /// A `train` row for the steps since the last one, if there are any.
    fn train_row(&mut self) {
        let (a, b) = (self.row_start, self.latest);
        if b.steps_done <= a.steps_done || b.images_done <= a.images_done {
            return;
        }
        let images = (b.images_done - a.images_done) as f64;
        let seconds = b.seconds - a.seconds;
        self.row_start = b;
        let step = (self.epoch - 1) * self.steps_per_epoch + b.steps_done;
        self.push(Row {
            kind: Kind::Train,
            epoch: self.epoch,
            step,
            loss: Some((b.loss_sum - a.loss_sum) / images),
            accuracy: (b.correct - a.correct) as f64 / images,
            images_per_s: (seconds > 0.0).then(|| images / seconds),
            learning_rate: self.rate_at(step),
        });
    }
}

impl Observer for MetricsLog {
    fn epoch_started(&mut self, epoch: usize, images: usize) {
        self.epoch = epoch;
        self.epoch_images = images;
        self.steps_per_epoch = images.div_ceil(self.batch_size);
        self.row_start = Progress::default();
        self.latest = Progress::default();
        self.rebase_at = None;
    }

    fn progress(&mut self, progress: Progress) {
        if progress.steps_done < self.latest.steps_done {
            // The epoch started over: its steps up to the last row are written already.
            self.rebase_at = Some(self.row_start.steps_done);
        }
        self.latest = progress;
        if let Some(step) = self.rebase_at {
            if progress.steps_done < step {
                return;
            }
            // The new run's totals at the last row written (none yet: from the epoch's start).
            self.row_start = if step == 0 { Progress::default() } else { progress };
            self.rebase_at = None;
        }
        if progress.steps_done >= self.row_start.steps_done + self.every && !self.short_remainder(progress) {
            self.train_row();
        }
    }

    fn epoch_finished(&mut self, report: &EpochReport) {
        self.train_row();
        if let Some(held) = report.validation {
            let step = report.epoch * self.steps_per_epoch;
            self.push(Row {
                kind: Kind::Validation,
                epoch: report.epoch,
                step,
                loss: held.loss.is_finite().then_some(held.loss),
                accuracy: held.accuracy,
                images_per_s: Some(report.images_per_second),
                learning_rate: self.rate_at(step),
            });
        }
        if report.test_accuracy.is_finite() {
            let step = report.epoch * self.steps_per_epoch;
            self.push(Row {
                kind: Kind::Test,
                epoch: report.epoch,
                step,
                loss: report.test_loss.is_finite().then_some(report.test_loss),
                accuracy: report.test_accuracy,
                images_per_s: Some(report.images_per_second),
                learning_rate: self.rate_at(step),
            });
        }
    }
}

/// Several observers as one: each hears everything, in order.
pub struct Observers<'a>(pub Vec<&'a mut dyn Observer>);

impl Observer for Observers<'_> {
    fn epoch_started(&mut self, epoch: usize, images: usize) {
        self.0.iter_mut().for_each(|o| o.epoch_started(epoch, images));
    }

    fn progress(&mut self, progress: Progress) {
        self.0.iter_mut().for_each(|o| o.progress(progress));
    }

    fn epoch_finished(&mut self, report: &EpochReport) {
        self.0.iter_mut().for_each(|o| o.epoch_finished(report));
    }
}
