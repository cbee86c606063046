"""`Model.to_torch()`: the network as a PyTorch module, built from its layer list.

PyTorch is imported here, and this module only when ``to_torch`` is called, so ``import
lenet_gpu`` never needs it. The layer list (``conv6k5p2,relu,maxpool2,...``, the words of
``Layer``'s Display in src/model/spec.rs) is parsed again here, and the modules are named and
registered in the order of src/model/plan.rs, so the model's ``state_dict()`` loads with
``strict=True``: ``conv1, conv2, ...`` (a residual block's body in place), ``fc1, ...``,
``bn1, ...``, and each block's 1x1 shortcut convolution ``shortcut1, ...`` after its body."""

from __future__ import annotations

import re

import numpy as np

try:
    import torch
    import torch.nn.functional as F
except ModuleNotFoundError as e:
    if e.name != "torch":
        raise
    raise ModuleNotFoundError(
        "Model.to_torch() needs PyTorch, which is not installed here: pip install torch "
        "(the CPU build is enough: pip install torch --index-url https://download.pytorch.org/whl/cpu)",
        name="torch",
    ) from e

from . import _arrays

#: How bytes become the network's input, per channel: (byte / 255 - mean) / std with these
#: numbers, as src/data/mod.rs (`Normalization::for_channels`) does: CIFAR-10's for 3 channels,
#: MNIST's for every channel otherwise.
_GRAY = ((0.1307,), (0.3081,))
_CIFAR10 = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))

_CONV = re.compile(r"conv(\d+)k(\d+)(?:x(\d+))?(?:s(\d+))?(?:p(\d+))?")
_POOL = re.compile(r"(maxpool|avgpool)(\d+)(?:s(\d+))?")
_DENSE = re.compile(r"dense(\d+)")
_DROPOUT = re.compile(r"dropout(\d*\.?\d+)")
_SHAPE = re.compile(r"(\d+)\s*[x@]\s*(\d+)\s*x\s*(\d+)")


def split_items(text: str) -> list[str]:
    """`text` split at the commas outside parentheses, each item trimmed."""
    items, depth, start = [], 0, 0
    for i, c in enumerate(text):
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth < 0:
                raise ValueError(f"unbalanced parentheses in {text!r}")
        elif c == "," and depth == 0:
            items.append(text[start:i].strip())
            start = i + 1
    if depth != 0:
        raise ValueError(f"unbalanced parentheses in {text!r}")
    items.append(text[start:].strip())
    if any(not item for item in items):
        raise ValueError(f"an empty item in {text!r}")
    return items


def parse_layers(text: str) -> list[tuple]:
    """The layers of a layer list, each a tuple: ("conv", out, kh, kw, stride, padding),
    ("maxpool" or "avgpool", window, stride), ("dense", out), ("dropout", rate), ("relu",),
    ("tanh",), ("gelu",), ("bn",), ("gap",), or ("res", [body layers])."""
    layers = []
    for item in split_items(text):
        word = item.lower().replace(" ", "")
        if word.startswith("res(") and word.endswith(")"):
            layers.append(("res", parse_layers(item[item.index("(") + 1 : item.rindex(")")])))
        elif word in ("relu", "tanh", "gelu", "bn", "gap"):
            layers.append((word,))
        elif m := _CONV.fullmatch(word):
            out, kh, kw, stride, padding = m.groups()
            kh = int(kh)
            layers.append(("conv", int(out), kh, int(kw or kh), int(stride or 1), int(padding or 0)))
        elif m := _POOL.fullmatch(word):
            kind, window, stride = m.groups()
            layers.append((kind, int(window), int(stride or window)))
        elif m := _DENSE.fullmatch(word):
            layers.append(("dense", int(m.group(1))))
        elif m := _DROPOUT.fullmatch(word):
            layers.append(("dropout", float(m.group(1))))
        else:
            raise ValueError(f"layer {item!r} is not one to_torch knows")
    return layers


def parse_network(text: str, input_shape=None) -> tuple[tuple[int, int, int], list[tuple]]:
    """(input shape, layers) of a layer list, which may start with its input ("input3x32x32");
    without one, ``input_shape`` (default MNIST's 1x28x28)."""
    items = split_items(text)
    if items[0].lower().startswith("input"):
        m = _SHAPE.fullmatch(items[0][len("input") :].strip())
        if not m:
            raise ValueError(f"input shape {items[0]!r} is not CxHxW")
        input_shape, items = tuple(int(v) for v in m.groups()), items[1:]
    return tuple(input_shape or (1, 28, 28)), parse_layers(",".join(items))


def _sliding(size: int, window: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - window) // stride + 1


def _shortcut_stride(shape_in, shape_out) -> int:
    """The stride of the 1x1 convolution taking a block's input to its body's output shape, as
    `shortcut_stride` in src/model/spec.rs finds it (the smallest that fits)."""
    _, h, w = shape_in
    for s in range(1, max(h, w) + 1):
        if _sliding(h, 1, s, 0) == shape_out[1] and _sliding(w, 1, s, 0) == shape_out[2]:
            return s
    raise ValueError(f"no 1x1 convolution takes a block's input {shape_in} to its body's output {shape_out}")


class Network(torch.nn.Module):
    """A lenet_gpu network as a PyTorch module: the same layers, the same parameter names, the
    same numbers. Its input is the normalized float32 images [N, C, H, W] (``prepare`` makes them
    from the images a `Model` takes); its output the logits [N, classes].

    Parameters
    ----------
    arch : the layer list, e.g. "conv6k5p2,relu,maxpool2,conv16k5,relu,maxpool2,dense120,relu,
        dense84,relu,dense10", optionally starting with its input ("input3x32x32").
    input_shape : (channels, height, width) of the input when ``arch`` does not name it
        (default (1, 28, 28)).
    """

    def __init__(self, arch: str, input_shape=None):
        super().__init__()
        self.input_shape, self._layers = parse_network(arch, input_shape)
        self.arch = arch
        mean, std = _CIFAR10 if self.input_shape[0] == 3 else _GRAY
        channels = self.input_shape[0]
        #: The per-channel mean and standard deviation the images are normalized by after
        #: scaling to [0, 1] (torchvision's ``transforms.Normalize(mean, std)``).
        self.mean = tuple(mean[c if c < len(mean) else 0] for c in range(channels))
        self.std = tuple(std[c if c < len(std) else 0] for c in range(channels))
        self._counts = {"conv": 0, "fc": 0, "bn": 0, "shortcut": 0}
        self._program, _, _ = self._build(self._layers, self.input_shape, False)
        del self._counts

    def _name(self, kind: str) -> str:
        self._counts[kind] += 1
        return f"{kind}{self._counts[kind]}"

    def _build(self, layers, shape, flat: bool):
        """Registers the modules of `layers` in state_dict order and returns (the steps forward
        runs, the output shape, whether the output is [N, features] rather than [N, C, H, W])."""
        program = []
        for layer in layers:
            kind = layer[0]
            c, h, w = shape
            if kind == "conv":
                _, out, kh, kw, stride, padding = layer
                name = self._name("conv")
                self.add_module(name, torch.nn.Conv2d(c, out, (kh, kw), stride, padding))
                program.append(("module4d", name))
                shape, flat = (out, _sliding(h, kh, stride, padding), _sliding(w, kw, stride, padding)), False
            elif kind in ("maxpool", "avgpool"):
                _, window, stride = layer
                program.append((kind, window, stride))
                shape, flat = (c, _sliding(h, window, stride, 0), _sliding(w, window, stride, 0)), False
            elif kind == "dense":
                name = self._name("fc")
                self.add_module(name, torch.nn.Linear(c * h * w, layer[1]))
                program.append(("dense", name))
                shape, flat = (layer[1], 1, 1), True
            elif kind == "bn":
                name = self._name("bn")
                norm = torch.nn.BatchNorm1d(c) if flat else torch.nn.BatchNorm2d(c)
                self.add_module(name, norm)
                program.append(("module", name))
            elif kind == "gap":
                program.append(("gap",))
                shape, flat = (c, 1, 1), True
            elif kind == "dropout":
                program.append(("dropout", layer[1]))
            elif kind in ("relu", "tanh", "gelu"):
                program.append((kind,))
            elif kind == "res":
                body, out, body_flat = self._build(layer[1], shape, flat)
                shortcut = None
                if out != shape:
                    shortcut = self._name("shortcut")
                    stride = _shortcut_stride(shape, out)
                    self.add_module(shortcut, torch.nn.Conv2d(c, out[0], 1, stride, 0))
                program.append(("res", body, shortcut))
                shape, flat = out, body_flat if shortcut else (body_flat or flat)
            else:  # parse_layers knows no other
                raise AssertionError(kind)
        return program, shape, flat

    def extra_repr(self) -> str:
        return f"arch={self.arch!r}, input_shape={self.input_shape}"

    def forward(self, x):
        return self._run(self._program, x)

    def _run(self, program, x):
        for step in program:
            kind = step[0]
            if kind == "module4d":  # a convolution: a [N, C] input is C planes of 1x1
                x = getattr(self, step[1])(_planes(x))
            elif kind == "module":
                x = getattr(self, step[1])(x)
            elif kind == "dense":
                x = getattr(self, step[1])(torch.flatten(x, 1) if x.dim() > 2 else x)
            elif kind == "maxpool":
                x = F.max_pool2d(_planes(x), step[1], step[2])
            elif kind == "avgpool":
                x = F.avg_pool2d(_planes(x), step[1], step[2])
            elif kind == "gap":
                x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1) if x.dim() > 2 else x
            elif kind == "dropout":
                x = F.dropout(x, step[1], self.training)
            elif kind == "relu":
                x = F.relu(x)
            elif kind == "tanh":
                x = torch.tanh(x)
            elif kind == "gelu":
                x = F.gelu(x)
            else:  # "res": x + body(x), through the 1x1 shortcut when the body changes the shape
                body = self._run(step[1], x)
                skip = x if step[2] is None else getattr(self, step[2])(_planes(x))
                if body.dim() != skip.dim():  # one is [N, C], the other [N, C, 1, 1]
                    body, skip = torch.flatten(body, 1), torch.flatten(skip, 1)
                x = body + skip
        return x

    def prepare(self, x):
        """The images a `Model` takes (``fit``, ``predict``: uint8 0..255 or floats in [0, 1],
        gray [N, 28, 28] or colour [N, 32, 32, 3] / [N, 3, 32, 32]) as the float32 tensor
        [N, C, H, W] this module takes, normalized exactly as the engine normalizes them.

        Parameters
        ----------
        x : the images, as ``Model.predict`` takes them (a batch).
        """
        xs, _ = _arrays.images(x, "x", shape=self.input_shape)
        c = self.input_shape[0]
        levels = np.arange(256, dtype=np.float32) / np.float32(255.0)
        table = np.stack([(levels - np.float32(self.mean[i])) / np.float32(self.std[i]) for i in range(c)])
        out = table[np.arange(c)[:, np.newaxis], xs.reshape(len(xs), c, -1)]
        return torch.from_numpy(np.ascontiguousarray(out.reshape((len(xs),) + tuple(self.input_shape))))


def _planes(x):
    return x[:, :, None, None] if x.dim() == 2 else x


def from_model(model) -> Network:
    """The module for a `Model`, holding a copy of its parameters, in evaluation mode."""
    session = model._session
    module = Network(session.arch, tuple(session.input_shape))
    state = {}
    for name, value in session.state():
        if name.endswith(".num_batches_tracked"):
            state[name] = torch.tensor(round(float(value)), dtype=torch.int64)
        else:
            state[name] = torch.from_numpy(np.array(value, dtype=np.float32))
    module.load_state_dict(state, strict=True)
    return module.eval()
