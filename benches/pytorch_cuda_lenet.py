#!/usr/bin/env python3
"""PyTorch on CUDA, the peer for benches/gpu.sh: the same LeNet-5 (conv 6@5x5 pad 2, ReLU, max-pool,
conv 16@5x5, ReLU, max-pool, 120, 84, 10), the same MNIST normalization, SGD with momentum 0.9,
with the whole data set resident on the GPU (no DataLoader, no copies per step), as a careful
user would write it. One JSON line: per batch size, each epoch's seconds (the first includes
cuDNN's warm-up; the second is the steady one) and images/s, the test accuracy, and the time to
98% at batch 64.

    python3 benches/pytorch_cuda_lenet.py --data data/mnist
"""
import argparse, gzip, json, struct, sys, time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def load_idx(path):
    with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
        data = f.read()
    ndim = struct.unpack(">I", data[:4])[0] & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(400, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


def find(d, stem):
    import os

    for name in (f"{d}/{stem}.gz", f"{d}/{stem}"):
        if os.path.exists(name):
            return name
    sys.exit(f"no {stem}(.gz) in {d}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="data/mnist")
    p.add_argument("--batch-sizes", default="64,256,1024")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    if not torch.cuda.is_available():
        print(json.dumps({"error": "torch sees no CUDA device"}))
        return
    dev = torch.device("cuda")
    torch.backends.cudnn.benchmark = True
    norm = lambda x: ((torch.from_numpy(x.astype(np.float32)) / 255.0 - 0.1307) / 0.3081).unsqueeze(1).to(dev)
    xtr = norm(load_idx(find(a.data, "train-images-idx3-ubyte")))
    ytr = torch.from_numpy(load_idx(find(a.data, "train-labels-idx1-ubyte")).astype(np.int64)).to(dev)
    xte = norm(load_idx(find(a.data, "t10k-images-idx3-ubyte")))
    yte = torch.from_numpy(load_idx(find(a.data, "t10k-labels-idx1-ubyte")).astype(np.int64)).to(dev)

    def evaluate(m):
        m.eval()
        with torch.no_grad():
            right = sum((m(xte[i : i + 2000]).argmax(1) == yte[i : i + 2000]).sum().item() for i in range(0, len(xte), 2000))
        m.train()
        return right / len(xte)

    res = {"torch": torch.__version__, "device": torch.cuda.get_device_name(0), "lr": a.lr, "runs": []}
    for batch in [int(b) for b in a.batch_sizes.split(",")]:
        torch.manual_seed(a.seed)
        m = LeNet5().to(dev)
        opt = torch.optim.SGD(m.parameters(), lr=a.lr, momentum=0.9)
        g = torch.Generator(device=dev).manual_seed(a.seed)
        epochs, trained, to98 = [], 0.0, None
        for ep in range(a.epochs):
            perm = torch.randperm(len(xtr), device=dev, generator=g)
            torch.cuda.synchronize()
            t = time.perf_counter()
            for i in range(0, len(xtr), batch):
                idx = perm[i : i + batch]
                loss = F.cross_entropy(m(xtr[idx]), ytr[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            torch.cuda.synchronize()
            s = time.perf_counter() - t
            trained += s
            acc = evaluate(m)
            if to98 is None and acc >= 0.98:
                to98 = {"epoch": ep + 1, "training_seconds": trained}
            epochs.append({"epoch": ep + 1, "seconds": s, "images_per_s": len(xtr) / s, "test_acc": acc})
            print(f"torch cuda batch {batch} epoch {ep + 1}: {s:.3f} s, {len(xtr) / s:.0f} img/s, test acc {acc * 100:.2f}%", file=sys.stderr)
        res["runs"].append({"batch": batch, "epochs": epochs, "to_98": to98})
    print(json.dumps(res))


if __name__ == "__main__":
    main()
