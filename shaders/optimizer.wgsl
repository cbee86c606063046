// Optimizer updates over the whole flat parameter buffer in one dispatch, with PyTorch's
// semantics. The learning rate and weight decay are the step's (its uniform: a schedule's rate
// for this update, written with the epoch's other uniforms). CPU twin: src/cpu/optimizer.rs.

override LEN: u32 = 1u;
override MOMENTUM: f32 = 0.9;
override BETA1: f32 = 0.9;
override BETA2: f32 = 0.999;
override EPS: f32 = 1e-8;

@group(0) @binding(0) var<storage, read_write> params: array<f32>;
@group(0) @binding(1) var<storage, read> grads: array<f32>;
@group(0) @binding(2) var<storage, read_write> first: array<f32>;   // SGD velocity, Adam m
@group(0) @binding(3) var<storage, read_write> second: array<f32>;  // Adam v
@group(1) @binding(0) var<uniform> step: Step;

// g += wd·p (L2, as PyTorch's SGD); v = μ·v + g; p −= lr·v
@compute @workgroup_size(WORKGROUP)
fn sgd_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = linear_id(gid, groups);
    if id >= LEN {
        return;
    }
    var g = grads[id];
    if step.weight_decay != 0.0 {
        g += step.weight_decay * params[id];
    }
    let v = MOMENTUM * first[id] + g;
    first[id] = v;
    params[id] -= step.learning_rate * v;
}

// p ·= 1 − lr·wd (decoupled, as PyTorch's AdamW); m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²;
// p −= lr·(m/c1) / (√(v/c2) + ε)
@compute @workgroup_size(WORKGROUP)
fn adam_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = linear_id(gid, groups);
    if id >= LEN {
        return;
    }
    let lr = step.learning_rate;
    var p = params[id];
    if step.weight_decay != 0.0 {
        p *= 1.0 - lr * step.weight_decay;
    }
    let g = grads[id];
    let m = BETA1 * first[id] + (1.0 - BETA1) * g;
    let v = BETA2 * second[id] + (1.0 - BETA2) * g * g;
    first[id] = m;
    second[id] = v;
    params[id] = p - lr * (m / step.bias_correction1) / (sqrt(v / step.bias_correction2) + EPS);
}
