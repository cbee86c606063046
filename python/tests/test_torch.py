"""`Model.to_torch()`: the network as a PyTorch module with the model's parameters, giving the
model's own logits; a file ``save`` wrote loads into it through safetensors. Skipped without
PyTorch."""

import numpy as np
import pytest

import lenet_gpu

torch = pytest.importorskip("torch")

#: Every layer past LeNet's: batch norm (over channels), GELU, residual blocks (one with the
#: identity shortcut, one with a 1x1 shortcut of stride 2), global pooling, dropout.
EVERY_LAYER = (
    "conv8k3p1,bn,relu,maxpool2,res(conv8k3p1,bn,gelu,conv8k3p1,bn),relu,"
    "res(conv16k3s2p1,bn,relu,conv16k3p1,bn),gelu,gap,dropout0.25,dense10"
)

NETWORKS = {
    "lenet5": "lenet5",
    "lenet5-1998": "lenet5-1998",
    "every-layer": EVERY_LAYER,
    # A batch norm after a dense layer (BatchNorm1d), a non-square kernel, a pool with its own
    # stride, and a residual block around dense layers.
    "dense-bn": "conv4k3x5p1,tanh,avgpool3s2,dense32,bn,relu,res(dense32,bn,gelu),dropout0.5,dense10",
}

#: The largest difference allowed between the model's logits and the module's: float32 rounding
#: (measured: under 1e-6). 1e-4 would let a wrong form through: GELU's tanh approximation for its
#: erf form moved the logits by 4e-5.
TOLERANCE = 1e-5


def model_logits(model, x) -> np.ndarray:
    """The model's own logits: the last layer's output, which ``activations`` shows."""
    return np.stack([model.activations(image)[-1][1] for image in x])


def trained(arch, digits):
    x, y, _, _ = digits
    model = lenet_gpu.Model(arch=arch, device="cpu", seed=4)
    model.fit(x, y, epochs=1, batch_size=32, optimizer="adam", progress=False)
    return model


@pytest.mark.parametrize("arch", NETWORKS.values(), ids=NETWORKS.keys())
def test_to_torch_gives_the_models_logits(arch, digits, tmp_path):
    model = trained(arch, digits)
    xt = digits[2][:64]
    module = model.to_torch()
    assert isinstance(module, torch.nn.Module) and not module.training
    state = model.state_dict()
    assert list(module.state_dict()) == list(state)  # the same names in the same order

    # (a) the model's state_dict loads strictly, num_batches_tracked as PyTorch keeps it.
    tensors = {
        k: torch.tensor(int(v), dtype=torch.int64) if k.endswith("num_batches_tracked") else torch.from_numpy(v)
        for k, v in state.items()
    }
    module.load_state_dict(tensors, strict=True)
    for k, v in module.state_dict().items():
        assert np.array_equal(v.numpy(), state[k]), k
    batches = [v for k, v in module.state_dict().items() if k.endswith("num_batches_tracked")]
    assert all(v.dtype == torch.int64 and int(v) == 512 // 32 for v in batches)
    assert bool(batches) == ("bn" in arch)

    # (b) the same logits as the model's, and the same probabilities as predict's.
    with torch.no_grad():
        logits = module(module.prepare(xt)).numpy()
    ours = model_logits(model, xt)
    assert logits.shape == ours.shape == (64, 10)
    difference = np.abs(logits - ours).max()
    print(f"{arch}: largest logit difference {difference:.3g}")
    assert difference <= TOLERANCE
    probabilities = torch.softmax(torch.from_numpy(logits), dim=1).numpy()
    assert np.abs(probabilities - model.predict(xt)).max() <= TOLERANCE

    # (c) a saved file, read by safetensors, loads strictly into a fresh module.
    safetensors_torch = pytest.importorskip("safetensors.torch")
    path = tmp_path / "model.safetensors"
    model.save(path)
    from_file = safetensors_torch.load_file(str(path))
    assert all(v.dtype == torch.int64 for k, v in from_file.items() if k.endswith("num_batches_tracked"))
    fresh = lenet_gpu.Model(arch=arch, device="cpu", seed=9).to_torch()
    fresh.load_state_dict(from_file, strict=True)
    with torch.no_grad():
        assert torch.equal(fresh(fresh.prepare(xt)), module(module.prepare(xt)))


def test_a_colour_network_takes_its_normalized_planes():
    x, y = np.random.default_rng(3).integers(0, 256, (40, 32, 32, 3), dtype=np.uint8), np.arange(40) % 10
    model = lenet_gpu.Model(arch="input3x32x32,conv4k3,bn,relu,maxpool2,res(conv8k3s2p1),gap,dense10",
                            device="cpu", seed=2)
    model.fit(x, y, epochs=1, batch_size=8, progress=False)
    module = model.to_torch()
    assert module.input_shape == (3, 32, 32) and module.mean == (0.4914, 0.4822, 0.4465)
    inputs = module.prepare(x[:8])
    assert inputs.shape == (8, 3, 32, 32) and inputs.dtype == torch.float32
    with torch.no_grad():
        assert np.abs(module(inputs).numpy() - model_logits(model, x[:8])).max() <= TOLERANCE


def test_the_module_trains_in_torch_after_a_lenet_model():
    # Train mode turns dropout and the batch statistics on, and the gradients reach every parameter.
    module = lenet_gpu.Model(arch=EVERY_LAYER, device="cpu").to_torch().train()
    x, y = lenet_gpu.synthetic_digits(16, seed=1)
    loss = torch.nn.functional.cross_entropy(module(module.prepare(x)), torch.from_numpy(y.astype(np.int64)))
    loss.backward()
    assert all(p.grad is not None for p in module.parameters())
    assert int(module.bn1.num_batches_tracked) == 1
