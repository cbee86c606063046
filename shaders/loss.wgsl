// Softmax cross-entropy fused with its gradient, counting correct predictions; and the argmax
// used for evaluation. CPU twin: src/cpu/loss.rs.

override BATCH: u32 = 1u;
override CLASSES: u32 = 10u;
override LOGITS_ACTIVATION: u32 = 0u; // the activation the logits came out of (common.wgsl)

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<u32>;
@group(0) @binding(2) var<storage, read_write> d_logits: array<f32>;
// stats[2 * slot] = the step's summed loss, stats[2 * slot + 1] = its correct count
@group(0) @binding(3) var<storage, read_write> stats: array<f32>;
@group(0) @binding(4) var<storage, read_write> predictions: array<u32>;
@group(1) @binding(0) var<uniform> step: Step;

const THREADS: u32 = 256u;
var<workgroup> partial_loss: array<f32, THREADS>;
var<workgroup> partial_correct: array<u32, THREADS>;

fn argmax_row(base: u32) -> u32 {
    var best = 0u;
    for (var j = 1u; j < CLASSES; j++) {
        if logits[base + j] > logits[base + best] {
            best = j;
        }
    }
    return best;
}

// One workgroup: each thread takes rows t, t + 256, ...; the per-thread sums are then reduced
// in a fixed tree, so the result never depends on scheduling (no float atomics).
@compute @workgroup_size(THREADS)
fn softmax_cross_entropy(@builtin(local_invocation_index) t: u32) {
    var loss = 0.0;
    var correct = 0u;
    for (var row = t; row < BATCH; row += THREADS) {
        let base = row * CLASSES;
        if row >= step.count {
            for (var j = 0u; j < CLASSES; j++) {
                d_logits[base + j] = 0.0;
            }
            continue;
        }
        let label = labels[row];
        let predicted = argmax_row(base);
        let max_logit = logits[base + predicted];
        var sum_exp = 0.0;
        for (var j = 0u; j < CLASSES; j++) {
            sum_exp += exp(logits[base + j] - max_logit);
        }
        loss += log(sum_exp) - (logits[base + label] - max_logit);
        correct += select(0u, 1u, predicted == label);
        for (var j = 0u; j < CLASSES; j++) {
            let p = exp(logits[base + j] - max_logit) / sum_exp;
            let d = (p - select(0.0, 1.0, j == label)) / f32(step.count);
            d_logits[base + j] = through_activation(d, logits[base + j], LOGITS_ACTIVATION);
        }
    }
    partial_loss[t] = loss;
    partial_correct[t] = correct;
    workgroupBarrier();
    for (var half = THREADS / 2u; half > 0u; half /= 2u) {
        if t < half {
            partial_loss[t] += partial_loss[t + half];
            partial_correct[t] += partial_correct[t + half];
        }
        workgroupBarrier();
    }
    if t == 0u {
        stats[2u * step.slot] = partial_loss[0];
        stats[2u * step.slot + 1u] = f32(partial_correct[0]);
    }
}

// predictions[batch_start + row] = the predicted class of each of the step's rows.
@compute @workgroup_size(WORKGROUP)
fn predict(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let row = linear_id(gid, groups);
    if row < step.count {
        predictions[step.batch_start + row] = argmax_row(row * CLASSES);
    }
}
