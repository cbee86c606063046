"""`fit(progress=True)` in a real Jupyter kernel, run headlessly with nbclient: tqdm's widget when
ipywidgets is installed (its final state recorded in the notebook), tqdm's text bar when it is not,
and one plain line per epoch without tqdm."""

import json

import pytest

import lenet_gpu

# What the kernel is told to be missing before it imports lenet_gpu, for each display.
HIDDEN = {"widget": [], "text": ["ipywidgets"], "lines": ["tqdm"]}


def run_in_a_kernel(hidden):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    from nbformat.v4 import new_code_cell, new_notebook

    hide = "".join(f"sys.modules[{name!r}] = None\n" for name in hidden)
    nb = new_notebook(
        cells=[
            new_code_cell("import sys\n" + hide),
            new_code_cell(
                "import lenet_gpu\n"
                "x, y = lenet_gpu.synthetic_digits(512, seed=1)\n"
                "model = lenet_gpu.Model(device='cpu')\n"
                "history = model.fit(x, y, epochs=2, batch_size=32, progress=True)\n"
                "print('module', lenet_gpu.__file__)\n"
                "print('trained', model.epochs_done)"
            ),
        ]
    )
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3").execute()
    outputs = [o for c in nb.cells for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"], outputs
    stdout = "".join(o.text for o in outputs if o.output_type == "stream" and o.name == "stdout")
    stderr = "".join(o.text for o in outputs if o.output_type == "stream" and o.name == "stderr")
    assert f"module {lenet_gpu.__file__}\n" in stdout, "the kernel runs the module under test"
    assert "trained 2\n" in stdout
    return nb, outputs, stdout, stderr


def test_a_widget_bar_with_ipywidgets():
    pytest.importorskip("tqdm")
    pytest.importorskip("ipywidgets")
    nb, outputs, _, _ = run_in_a_kernel(HIDDEN["widget"])
    shown = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert [o.data["text/plain"].split(":")[0] for o in shown] == ["epoch 1/2", "epoch 2/2"]
    # The widgets' last state, as the kernel left it: each bar full, its text the epoch's figures.
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    models = list(state.values())
    bars = [m["state"] for m in models if m["model_name"] == "FloatProgressModel"]
    assert [(b["value"], b["max"], b["bar_style"]) for b in bars] == [(512, 512, "success")] * 2, bars
    # tqdm's widget writes its text with figure spaces (U+2007).
    texts = [m["state"]["value"].replace("\u2007", " ") for m in models if m["model_name"] == "HTMLModel"]
    assert "epoch 1/2: 100%" in texts and "epoch 2/2: 100%" in texts, texts
    assert sum("512/512" in t and "loss " in t and "acc " in t for t in texts) == 2, json.dumps(texts)


def test_a_text_bar_without_ipywidgets():
    pytest.importorskip("tqdm")
    _, outputs, _, stderr = run_in_a_kernel(HIDDEN["text"])
    assert not [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    for epoch in (1, 2):
        last = [part for part in stderr.split("\r") if part.startswith(f"epoch {epoch}/2:")][-1]
        assert "100%|" in last and "512/512" in last and "img/s" in last and "loss " in last, stderr


def test_plain_lines_without_tqdm():
    _, _, stdout, stderr = run_in_a_kernel(HIDDEN["lines"])
    assert "epoch 1/2: loss " in stdout and "epoch 2/2: loss " in stdout, stdout
    assert "images/s)" in stdout and "img/s" not in stderr
