"""Shared fixtures: MNIST (../shared/data/mnist beside the repository), the GPU adapter (lavapipe
will do) and the `lenet` binary. Each test that needs one skips without it, and fails instead
when LENET_REQUIRE_MNIST=1, LENET_REQUIRE_GPU=1 or LENET_REQUIRE_CLI=1 (as in CI)."""

import os
import pathlib
import shutil

import numpy as np
import pytest

import lenet_gpu

REPO = pathlib.Path(__file__).resolve().parents[2]


def _need(what: str, env: str, why: str):
    if os.environ.get(env) == "1":
        pytest.fail(f"{what} is required here ({env}=1) but {why}")
    pytest.skip(f"{what}: {why}")


@pytest.fixture(scope="session")
def mnist_dir():
    d = pathlib.Path(os.environ.get("LENET_TEST_MNIST", REPO.parent / "shared" / "data" / "mnist"))
    if not (d / "train-images-idx3-ubyte.gz").exists() and not (d / "train-images-idx3-ubyte").exists():
        _need("MNIST", "LENET_REQUIRE_MNIST", f"it is not in {d}")
    return d


@pytest.fixture(scope="session")
def mnist(mnist_dir):
    return lenet_gpu.load_mnist(mnist_dir, download=False)


@pytest.fixture(scope="session")
def gpu():
    if not lenet_gpu.devices():
        _need("a GPU adapter", "LENET_REQUIRE_GPU", "wgpu finds none (install mesa-vulkan-drivers for lavapipe)")
    return "gpu"


@pytest.fixture(scope="session")
def lenet_bin():
    path = os.environ.get("LENET_BIN") or shutil.which("lenet") or str(REPO / "target" / "release" / "lenet")
    if not os.path.exists(path):
        _need("the lenet binary", "LENET_REQUIRE_CLI", f"{path} does not exist (cargo build --release)")
    return path


@pytest.fixture(scope="session")
def digits():
    """512 synthetic training digits and 128 test digits (seed 7)."""
    x, y = lenet_gpu.synthetic_digits(640, seed=7)
    return x[:512], y[:512], x[512:], y[512:]


def same_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
