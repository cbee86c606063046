//! Where training stands in the shuffled epochs of one data set, seeded as the CLI's are.

use super::DataKind;
use lenet_gpu::train::epoch_order;

/// Where training stands in the shuffled epochs of one data set.
#[derive(Clone)]
pub(super) struct Cursor {
    pub(super) dataset: DataKind,
    /// The epoch `order` belongs to, counted from 1.
    pub(super) epoch: usize,
    pub(super) order: Vec<u32>,
    pub(super) next: usize,
}

impl Cursor {
    pub(super) fn new(dataset: DataKind, examples: usize, seed: u64) -> Cursor {
        Cursor { dataset, epoch: 1, order: epoch_order(examples, seed, 1), next: 0 }
    }

    /// The next `n` examples of the shuffled epochs, running on into the next epoch (seeded like
    /// the CLI's: the seed and the epoch number decide each one's order).
    pub(super) fn take(&mut self, n: usize, seed: u64) -> Vec<u32> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            if self.next == self.order.len() {
                self.epoch += 1;
                self.order = epoch_order(self.order.len(), seed, self.epoch);
                self.next = 0;
            }
            let end = (self.next + n - out.len()).min(self.order.len());
            out.extend_from_slice(&self.order[self.next..end]);
            self.next = end;
        }
        out
    }

    /// Whole epochs trained.
    pub(super) fn epochs_done(&self) -> usize {
        if self.next == self.order.len() { self.epoch } else { self.epoch - 1 }
    }
}
