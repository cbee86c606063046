// Optimizer updates over the whole flat parameter buffer in one dispatch, with PyTorch's
// semantics. The learning rate and weight decay are the step's (its uniform: a schedule's rate
// for this update, written with the epoch's other uniforms). CPU twin: src/cpu/optimizer.rs.

override LEN: u32 = 1u;

@group(0) @binding(0) var<storage, read_write> params: array<f32>;
@group(0) @binding(1) var<storage, read> grads: array<f32>;
@group(0) @binding(2) var<storage, read_write> first: array<f32>;   // SGD velocity, Adam m
@group(0) @binding(3) var<storage, read_write> second: array<f32>;  // Adam v
@group(1) @binding(0) var<uniform> step: Step;

// The formulas are common.wgsl's (sgd_update, adam_update), which the fused updates share.
@compute @workgroup_size(WORKGROUP)
fn sgd_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = linear_id(gid, groups);
    if id >= LEN {
        return;
    }
    let r = sgd_update(params[id], grads[id], first[id], step);
    params[id] = r.x;
    first[id] = r.y;
}

@compute @workgroup_size(WORKGROUP)
fn adam_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = linear_id(gid, groups);
    if id >= LEN {
        return;
    }
    let r = adam_update(params[id], grads[id], first[id], second[id], step);
    params[id] = r.x;
    first[id] = r.y;
    second[id] = r.z;
}
