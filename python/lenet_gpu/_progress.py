"""Progress while fitting: a tqdm bar (tqdm.auto renders in Jupyter and Colab) when tqdm is
installed, else one plain line per epoch. Shown through Python, so it appears in notebooks."""

from __future__ import annotations

import sys
import warnings


def _tqdm():
    try:
        # tqdm.auto: a widget in Jupyter and Colab (with ipywidgets), a text bar elsewhere; without
        # ipywidgets it warns and falls back to the text bar, which renders in notebooks too.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm


class EpochProgress:
    """One epoch's display: `update(images, loss_sum, correct)` while it trains (called by the
    engine about ten times a second), `close(logs)` after it. Whether shown or not, it adds
    the training curve's points to `curve` (the loss and accuracy of the steps between two
    updates, against the images seen so far in all epochs)."""

    def __init__(self, epoch: int, last: int, images: int, enabled: bool, curve: dict):
        self.epoch, self.last, self.images, self.enabled, self.curve = epoch, last, images, enabled, curve
        self.loss_sum, self.correct = 0.0, 0
        # Images seen before this epoch, for the curve's x axis.
        self.base = curve["images"][-1] if curve["images"] else 0
        self.bar = None
        tqdm = _tqdm() if enabled else None
        if tqdm is not None:
            self.bar = tqdm(total=images, desc=f"epoch {epoch}/{last}", unit="img", leave=True)
        self.done = 0

    def update(self, images: int, loss_sum: float, correct: int) -> None:
        if images > self.done:  # the training curve: the figures of the steps since the last update
            n = images - self.done
            self.curve["epoch"].append(self.epoch)
            self.curve["images"].append(self.base + images)
            self.curve["loss"].append((loss_sum - self.loss_sum) / n)
            self.curve["accuracy"].append((correct - self.correct) / n)
            self.loss_sum, self.correct = loss_sum, correct
        if self.bar is not None:
            self.bar.update(images - self.done)
            if images:
                self.bar.set_postfix(loss=f"{loss_sum / images:.4f}", acc=f"{correct / images:.3f}", refresh=False)
        self.done = images

    def close(self, logs: dict | None, note: str | None = None) -> None:
        if logs:  # the epoch's last steps (progress reaches Python at most ten times a second)
            n = self.images
            self.update(n, logs["loss"] * n, round(logs["accuracy"] * n))
        if self.bar is not None:
            if logs:
                self.bar.set_postfix_str(_short(logs), refresh=True)
            self.bar.close()
        elif self.enabled and logs:
            print(describe(self.epoch, self.last, logs), file=sys.stdout, flush=True)
        if self.enabled and note:
            print(note, file=sys.stdout, flush=True)


def _short(logs: dict) -> str:
    parts = [f"loss {logs['loss']:.4f}", f"acc {logs['accuracy']:.3f}"]
    if "val_accuracy" in logs:
        parts += [f"val_loss {logs['val_loss']:.4f}", f"val_acc {logs['val_accuracy']:.3f}"]
    return ", ".join(parts)


def describe(epoch: int, last: int, logs: dict) -> str:
    """One line for an epoch, e.g. "epoch 1/3: loss 0.2456, accuracy 92.51%, ... (10.2 s)"."""
    text = f"epoch {epoch}/{last}: loss {logs['loss']:.4f}, accuracy {100 * logs['accuracy']:.2f}%"
    if "val_accuracy" in logs:
        text += f", val_loss {logs['val_loss']:.4f}, val_accuracy {100 * logs['val_accuracy']:.2f}%"
    return text + f" ({logs['seconds']:.1f} s, {logs['images_per_second']:.0f} images/s)"
