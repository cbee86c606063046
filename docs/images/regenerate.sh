#!/usr/bin/env bash
# Regenerates the pictures of the README and docs/ (docs/images/*.png) from a fresh one-epoch LeNet-5,
# and the figures they quote (the sample output of `lenet train --epochs 3`, the model's accuracy
# and mistakes, the 1998 network's accuracy beside it; tests/docs_figures.rs checks the 1-epoch ones):
#   bash docs/images/regenerate.sh [MNIST_DIR]
# MNIST_DIR defaults to ../shared/data/mnist when it exists, else lenet's usual search (and
# download). Everything runs on the CPU path, so the pictures are the same on every machine
# (the GPU path gives them within float32 rounding: add --device gpu to any command).
set -euo pipefail
cd "$(dirname "$0")/../.."
data="${1:-}"
if [[ -z "$data" && -d ../shared/data/mnist ]]; then data=../shared/data/mnist; fi
data_args=(--dataset mnist)
if [[ -n "$data" ]]; then data_args+=(--data-dir "$data"); fi
out=docs/images
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cargo build --release --quiet
lenet="${CARGO_TARGET_DIR:-target}/release/lenet"

"$lenet" train --device cpu "${data_args[@]}" --save "$work/lenet.safetensors" \
    --metrics "$work/metrics.csv" --metrics-every 20 --plot "$out/curves.png"
"$lenet" show kernels --model "$work/lenet.safetensors" --out "$out/kernels.png"
"$lenet" show features assets/7-tall.png --model "$work/lenet.safetensors" --device cpu --out "$out/features.png"
"$lenet" convolve assets/7-tall.png --kernel vertical-edge --device cpu --caption --out "$out/convolve-vertical-edge.png"
"$lenet" eval --device cpu "${data_args[@]}" --model "$work/lenet.safetensors" \
    --confusion "$out/confusion.png" --misclassified "$out/misclassified.png" --shift 4 --shift-plot "$out/shift.png"
# docs/recipes.md ("Getting to 99%"): the recipes' curves and what shifting buys (MNIST, seed 1).
"$lenet" train --recipe fast --device cpu "${data_args[@]}" --save "$work/fast.safetensors" \
    --metrics "$work/fast.csv" --metrics-every 20 --plot "$out/recipe-fast-curves.png"
"$lenet" train --recipe best --device cpu "${data_args[@]}" --save "$work/best.safetensors"
"$lenet" eval --device cpu "${data_args[@]}" --model "$work/fast.safetensors" --shift 4 --shift-plot "$out/shift-recipe-fast.png"
"$lenet" eval --device cpu "${data_args[@]}" --model "$work/best.safetensors" --shift 4 --shift-plot "$out/shift-recipe-best.png"

# The figures the text quotes: the README's and docs/cli.md's sample output, from the same
# command as theirs (progress lines kept in cli.md only), and what docs/ says of the model.
"$lenet" train --device cpu "${data_args[@]}" --epochs 3 --save "$work/three.safetensors" >"$work/three.txt" 2>&1
"$lenet" train --device cpu "${data_args[@]}" --arch lenet5-1998 --epochs 1 >"$work/1998.txt" 2>&1
python3 - "$work/three.txt" "$work/1998.txt" <<'PY'
import re, sys
three, old = (open(p).read().splitlines() for p in sys.argv[1:3])
epochs = [l for l in three if l.startswith("epoch ")]
progress = [l for l in three if re.match(r"^\s+\d+/\d+ images, loss", l)]
test_acc = re.search(r"test acc ([\d.]+)%", epochs[0]).group(1)
misses = 10000 - round(float(test_acc) * 100)
acc_1998 = re.search(r"test acc ([\d.]+)%", [l for l in old if l.startswith("epoch ")][0]).group(1)

def rewrite(path, edit):
    text = open(path).read()
    new = edit(text)
    if new != text:
        open(path, "w").write(new)

def epoch_lines(text, with_progress):
    lines, out, seen = text.split("\n"), [], 0
    for line in lines:
        if re.match(r"^epoch \d/3: ", line):
            out.append(epochs[seen]); seen += 1
        elif with_progress and re.match(r"^\s+\d+/60000 images, loss", line):
            # The progress line the epoch printed last before its epoch line.
            last = [p for p in progress if three.index(p) < three.index(epochs[seen])]
            out.append(last[-1] if last else line)
        else:
            out.append(line)
    return "\n".join(out)

def sub(pattern, value):
    return lambda text: re.sub(pattern, lambda m: m.group(1) + value + m.group(2), text, flags=re.S)

rewrite("README.md", lambda t: epoch_lines(t, False))
rewrite("docs/cli.md", lambda t: sub(r"(\(LeNet-5:\s+)[\d.]+(%\))", test_acc)(sub(r"(defaults \(SGD, lr 0\.01, batch 64\) on the CPU path:\s+)[\d.]+(% test accuracy)", acc_1998)(epoch_lines(t, True))))
rewrite("docs/pictures.md", lambda t: sub(r"(one epoch on MNIST \()[\d.]+(% on the test)", test_acc)(sub(r"(\()\d+( of 10,000 for this model\))", str(misses))(t)))
print(f"figures: epoch 1 test accuracy {test_acc}% ({misses} mistakes), the 1998 network's {acc_1998}%")
PY
ls -l "$out"/*.png
