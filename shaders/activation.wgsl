// An activation on its own, for one that no layer before it can absorb: one applied to the
// network's input, or a second, different activation in a row (tanh then relu). Everywhere else
// activations are fused: the conv, dense and pool kernels apply one to their output
// (ACTIVATION) and the next layer's backward kernel turns its input gradient into the gradient
// before it (INPUT_ACTIVATION), with the functions of common.wgsl.
// CPU twin: src/cpu/activation.rs.

override LEN: u32 = 1u;
override ACTIVATION: u32 = 0u;        // forward: the activation applied
override INPUT_ACTIVATION: u32 = 0u;  // backward: the one the input came out of

@group(0) @binding(0) var<storage, read> input: array<f32>;
@group(0) @binding(1) var<storage, read_write> output: array<f32>;
@group(0) @binding(2) var<storage, read> d_output: array<f32>;
@group(0) @binding(3) var<storage, read_write> d_input: array<f32>;

// output = activation(input).
@compute @workgroup_size(WORKGROUP)
fn activation_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = linear_id(gid, groups);
    if id < LEN {
        output[id] = activate(input[id], ACTIVATION);
    }
}

// d_input = d_output, taken back through the activation the input came out of. (This stage's own
// activation is taken back by the kernel after it, as for every stage: d_output is already the
// gradient before it.)
@compute @workgroup_size(WORKGROUP)
fn activation_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = linear_id(gid, groups);
    if id < LEN {
        d_input[id] = through_activation(d_output[id], input[id], INPUT_ACTIVATION);
    }
}
