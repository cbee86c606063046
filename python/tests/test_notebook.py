"""examples/notebook.ipynb, executed headlessly as a person would run it: one epoch on MNIST,
the curves, the conv1 kernels, a digit's feature maps, predictions."""

import os
import shutil

import pytest
from conftest import REPO


def test_the_notebook_runs_and_shows_what_it_promises(mnist_dir, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("matplotlib")
    pytest.importorskip("ipykernel")
    notebook = tmp_path / "notebook.ipynb"
    shutil.copy(REPO / "examples" / "notebook.ipynb", notebook)
    monkeypatch.setenv("LENET_DATA_DIR", str(mnist_dir))  # the kernel inherits it: no download
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(notebook, as_version=4)
    timeout = int(os.environ.get("LENET_NOTEBOOK_TIMEOUT", "1200"))
    nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()

    def outputs(kind):
        return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == kind or kind in o.get("data", {})]

    # The progress shows as stream text (tqdm's text bar, or plain lines) or, with ipywidgets, as a
    # widget whose display data holds its text too.
    text = "".join(o.get("text", "") for o in outputs("stream")) + "".join(
        o["data"].get("text/plain", "") for o in outputs("execute_result") + outputs("display_data")
    )
    assert not outputs("error")
    assert "(60000, 28, 28) uint8 (60000,) (10000, 28, 28)" in text
    assert "epoch 1/1: loss" in text or "epoch 1/1" in text
    assert "(6, 1, 5, 5)" in text
    assert "('conv1+relu', (6, 28, 28))" in text
    assert "[[19. 25.]\n [37. 43.]]" in text
    accuracy = float(text.split("test accuracy ")[1].split("%")[0])
    assert accuracy > 90, text
    # Curves, kernels, feature maps, probabilities: four figures.
    assert len(outputs("image/png")) == 4
    assert (tmp_path / "lenet5.safetensors").exists()
