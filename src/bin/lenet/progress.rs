//! Shows training as it happens: a progress bar on a terminal, a few plain lines otherwise (so
//! logs and CI output stay readable), and one summary line per epoch.

use indicatif::{ProgressBar, ProgressStyle};
use lenet_gpu::session::{EpochReport, Observer, Progress};
use std::io::IsTerminal;

pub struct ConsoleObserver {
    epochs: usize,
    /// " (synthetic digits)" on every epoch line of a run on stand-in data, so that no figure of
    /// it passes for MNIST's; empty otherwise.
    data_note: &'static str,
    bar: Option<ProgressBar>,
    images: usize,
    /// For plain output: the next quarter of the epoch to report.
    next_quarter: usize,
    terminal: bool,
}

impl ConsoleObserver {
    pub fn new(epochs: usize, synthetic: bool) -> Self {
        ConsoleObserver {
            epochs,
            data_note: if synthetic { " (synthetic digits)" } else { "" },
            bar: None,
            images: 0,
            next_quarter: 1,
            terminal: std::io::stderr().is_terminal(),
        }
    }
}

/// An epoch cut short by an error leaves no half-drawn bar above the error line.
impl Drop for ConsoleObserver {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

fn running_loss(p: &Progress) -> f64 {
    p.loss_sum / p.images_done.max(1) as f64
}

impl Observer for ConsoleObserver {
    fn epoch_started(&mut self, epoch: usize, images: usize) {
        self.images = images;
        self.next_quarter = 1;
        if self.terminal {
            let bar = ProgressBar::new(images as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {human_pos}/{human_len} images, {msg}, ETA {eta}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar.set_prefix(format!("epoch {epoch}/{}", self.epochs));
            bar.set_message("starting"); // until the first step's loss is known
            self.bar = Some(bar);
        }
    }

    fn progress(&mut self, p: Progress) {
        if let Some(bar) = &self.bar {
            bar.set_position(p.images_done as u64);
            // Our own rate, in whole images a second (indicatif's {per_sec} prints "8,001.1592/s").
            let rate = p.images_done as f64 / p.seconds.max(1e-9);
            bar.set_message(format!("{rate:.0} images/s, loss {:.4}", running_loss(&p)));
        } else if self.next_quarter < 4 && p.images_done * 4 >= self.next_quarter * self.images {
            eprintln!("  {}/{} images, loss {:.4}", p.images_done, self.images, running_loss(&p));
            self.next_quarter += 1;
        }
    }

    fn epoch_finished(&mut self, r: &EpochReport) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        // The validation split's figures, when there is one, before the test set's.
        let held = r.validation.map_or(String::new(), |v| {
            format!("val loss {:.4}, val acc {:.2}%, ", v.loss, v.accuracy * 100.0)
        });
        super::outputs::say!(
            "epoch {}/{}{}: train loss {:.4}, train acc {:.2}%, {held}test loss {:.4}, test acc {:.2}%, {:.1} s, {:.0} images/s",
            r.epoch,
            self.epochs,
            self.data_note,
            r.train_loss,
            r.train_accuracy * 100.0,
            r.test_loss,
            r.test_accuracy * 100.0,
            r.seconds,
            r.images_per_second
        );
    }
}
