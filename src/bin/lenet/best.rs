//! `train --save-best`: the model of the epoch with the best test accuracy (validation accuracy,
//! in a run holding a validation split out: the library's `Goals` judge), kept in a file of its
//! own beside the run's (`FILE.best.safetensors` by default).

use anyhow::{Context, Result, bail};
use lenet_gpu::checkpoint::{self, RUN_ID};
use lenet_gpu::session::record::TEST_ACCURACY;
use lenet_gpu::session::{EpochReport, Goals, Judged, Judgement, Session};
use std::path::{Path, PathBuf};

/// The metadata key of the accuracy a best model was kept for, with validation (else test,
/// `TEST_ACCURACY`).
const VALIDATION_ACCURACY: &str = "validation_accuracy";

fn key(judged: Judged) -> &'static str {
    match judged {
        Judged::Validation => VALIDATION_ACCURACY,
        Judged::Test => TEST_ACCURACY,
    }
}

/// Where `--save-best` keeps the best model (which one is the library's `Goals`' call).
pub struct BestModel {
    pub path: PathBuf,
    /// Kept in this run (a resumed run may keep none: an earlier epoch stays the best).
    kept: bool,
}

/// `lenet.safetensors` → `lenet.best.safetensors` (`lenet` → `lenet.best.safetensors`).
pub fn beside(save: &Path) -> PathBuf {
    match save.extension().and_then(|e| e.to_str()) {
        Some(ext) => save.with_extension(format!("best.{ext}")),
        None => save.with_extension("best.safetensors"),
    }
}

impl BestModel {
    /// The path `--save-best` (given as `flag`: None when absent, Some(None) without a file)
    /// names, with `save` the run's own file (None without one).
    pub fn path(flag: &Option<Option<PathBuf>>, save: Option<&Path>) -> Result<Option<PathBuf>> {
        let path = match (flag, save) {
            (None, _) => return Ok(None),
            (Some(Some(path)), _) => path.clone(),
            (Some(None), Some(save)) => beside(save),
            (Some(None), None) => bail!(
                "--save-best needs a file to keep the best model in: give --save-best FILE, or --save FILE to keep it beside, in FILE.best.safetensors"
            ),
        };
        if save.is_some_and(|s| s == path) {
            bail!(
                "--save-best {} is the file --save writes every epoch: give it another name",
                path.display()
            );
        }
        Ok(Some(path))
    }

    /// Starts keeping the best model of `session`'s run in `path`; and the best so far, when a
    /// file already there is this run's (a resumed run), for the goals to beat.
    pub fn new(path: PathBuf, session: &Session) -> (BestModel, Option<Judgement>) {
        let run_id = session.record().and_then(|r| r.run_id);
        let held_out = session.config().is_some_and(|c| c.validation > 0);
        let judged = if held_out { Judged::Validation } else { Judged::Test };
        let best = checkpoint::read_metadata(&path).ok().and_then(|m| {
            let ours = run_id.is_some() && m.get(RUN_ID) == run_id.as_ref();
            let accuracy = m.get(key(judged))?.parse().ok()?;
            let epoch = m.get("epoch")?.parse().ok()?;
            ours.then_some(Judgement { epoch, accuracy, judged })
        });
        (BestModel { path, kept: false }, best)
    }

    /// Saves `session`'s model, the best so far (`best`, of `report`'s epoch).
    pub fn save(&mut self, session: &Session, report: &EpochReport, best: Judgement) -> Result<()> {
        let saving = || format!("saving the best model after epoch {}", report.epoch);
        let params = session.parameters().with_context(saving)?;
        let mut metadata = session.record().map(|r| r.to_metadata()).unwrap_or_default();
        metadata.insert(TEST_ACCURACY.into(), report.test_accuracy.to_string());
        metadata.insert(key(best.judged).into(), best.accuracy.to_string());
        checkpoint::save(&self.path, &params, metadata).with_context(saving)?;
        self.kept = true;
        Ok(())
    }

    /// What it holds (the goals' best), for the run's last lines.
    pub fn describe(&self, goals: &Goals) -> Option<String> {
        let best = goals.best()?;
        let verb = if self.kept { "saved to" } else { "still in" };
        Some(format!(
            "best model (epoch {}, {} acc {:.2}%) {verb} {}",
            best.epoch,
            best.judged.name(),
            best.accuracy * 100.0,
            self.path.display()
        ))
    }
}
