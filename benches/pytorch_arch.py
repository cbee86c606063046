"""PyTorch's training throughput on any --arch network, beside `lenet train`'s images/s.

The network is built by the wheel's `lenet_gpu._torch.Network` (what `Model.to_torch()` returns),
so both train the same layers. MNIST is read from the gzip IDX files and held in memory, batches
of 128 in order, SGD with momentum 0.9, 2 threads; one warm-up step is not counted. Run it by
turns with `lenet train --arch ARCH --limit-train N --epochs 1 --batch-size 128` on a quiet
machine and compare the two images/s:

    python benches/pytorch_arch.py ARCH N [MNIST_DIR]      # needs torch and the lenet_gpu wheel
"""

import gzip
import sys
import time

import numpy as np
import torch
from lenet_gpu import _torch

arch, n = sys.argv[1], int(sys.argv[2])
data = sys.argv[3] if len(sys.argv) > 3 else "../shared/data/mnist"
torch.manual_seed(1)
torch.set_num_threads(2)
with gzip.open(f"{data}/train-images-idx3-ubyte.gz") as f:
    x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)[:n]
with gzip.open(f"{data}/train-labels-idx1-ubyte.gz") as f:
    y = np.frombuffer(f.read(), np.uint8, offset=8)[:n]
x = (torch.from_numpy(x.astype(np.float32) / 255) - 0.1307) / 0.3081
y = torch.from_numpy(y.astype(np.int64))
net = _torch.Network(arch)
net.train()
opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
loss_fn = torch.nn.CrossEntropyLoss()


def step(i):
    opt.zero_grad()
    loss_fn(net(x[i : i + 128]), y[i : i + 128]).backward()
    opt.step()


step(0)
start = time.perf_counter()
for i in range(0, n, 128):
    step(i)
print(f"pytorch {n / (time.perf_counter() - start):.0f} images/s")
