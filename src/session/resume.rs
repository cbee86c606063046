//! Resuming a run from the two files `train --save` writes: reading its settings before the
//! data is opened (`resume_metadata`), and what the run starts from (`load_resume`), after checking
//! the saved run had the settings asked for and has epochs left.

use super::{Notice, Notices, RunRecord, record};
use crate::checkpoint;
use crate::model::optimizer::OptimizerState;
use crate::model::{Parameters, Plan};
use crate::{Error, Result};
use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;

/// What the checkpoint a run would resume from records (its settings), or why it cannot be read,
/// as resuming it would say: a face reads the settings not given from it before it opens data.
pub fn resume_metadata(from: &Path) -> Result<std::collections::HashMap<String, String>> {
    checkpoint::read_metadata(from).map_err(|e| cannot_resume_from(from, e))
}

/// A failure to read `from` as the reason a run cannot resume from it.
fn cannot_resume_from(from: &Path, e: Error) -> Error {
    match e {
        e @ Error::CannotResume { .. } => e,
        e => Error::CannotResume {
            path: from.to_path_buf(),
            problem: crate::error::ResumeProblem::File(Box::new(e)),
        },
    }
}

/// What a resumed run starts from.
pub(super) struct Resumed {
    pub(super) params: Parameters,
    pub(super) optimizer: OptimizerState,
    /// The last epoch trained, and the examples of the next one trained.
    pub(super) epoch: usize,
    pub(super) position: usize,
    pub(super) run_id: Option<String>,
}

/// For a resumed run: what it starts from, saved in `from`,
/// after checking the saved run had the settings of `record` and has epochs left before `epochs`.
pub(super) fn load_resume(
    from: &Path,
    record: &RunRecord,
    plan: &Plan,
    epochs: usize,
    notices: &Rc<RefCell<Notices>>,
) -> Result<Resumed> {
    let unreadable = |e: Error| cannot_resume_from(from, e);
    // The settings first (the model file records the same ones as its optimizer state).
    let metadata = resume_metadata(from)?;
    record.check_resume(&metadata, from)?;
    let saved = checkpoint::load_training(from, plan).map_err(unreadable)?;
    if saved.recovered {
        let notice =
            Notice::RecoveredSave { model: from.to_path_buf(), from: checkpoint::optimizer_path(from) };
        (notices.borrow_mut())(notice);
    }
    let epoch = record::resumable_epoch(&saved.metadata, from, epochs)?;
    let run_id = saved.metadata.get(record::RUN_ID).cloned();
    let position = record::recorded_position(&saved.metadata);
    Ok(Resumed { params: saved.params, optimizer: saved.optimizer, epoch, position, run_id })
}
