// Dense (fully connected) layers: output = input · weightᵀ + bias, weight stored [OUT, IN] as
// PyTorch's Linear stores it, with an optional fused ReLU; and the backward passes.
// CPU twin: src/cpu/dense.rs.

override BATCH: u32 = 1u;
override IN: u32 = 1u;
override OUT: u32 = 1u;
override RELU: bool = false;        // forward: apply ReLU to the output
override MASK_INPUT: bool = false;  // backward: the input came out of a ReLU; zero its gradient where it is 0
override W_OFF: u32 = 0u;
override B_OFF: u32 = 0u;

@group(0) @binding(0) var<storage, read> input: array<f32>;
@group(0) @binding(1) var<storage, read> params: array<f32>;
@group(0) @binding(2) var<storage, read_write> output: array<f32>;
@group(0) @binding(3) var<storage, read> d_output: array<f32>;
@group(0) @binding(4) var<storage, read_write> d_input: array<f32>;
@group(0) @binding(5) var<storage, read_write> grads: array<f32>;

// ---- forward: input, params → output ----

@compute @workgroup_size(WORKGROUP)
fn dense_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = linear_id(gid, groups);
    if id >= BATCH * OUT {
        return;
    }
    let o = id % OUT;
    let n = id / OUT;
    var acc = params[B_OFF + o];
    for (var i = 0u; i < IN; i++) {
        acc += input[n * IN + i] * params[W_OFF + o * IN + i];
    }
    if RELU {
        acc = max(acc, 0.0);
    }
    output[id] = acc;
}

// ---- backward, input: d_output, params (and input, for the mask) → d_input = d_output · weight ----

@compute @workgroup_size(WORKGROUP)
fn dense_backward_input(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = linear_id(gid, groups);
    if id >= BATCH * IN {
        return;
    }
    if MASK_INPUT && input[id] <= 0.0 {
        d_input[id] = 0.0;
        return;
    }
    let i = id % IN;
    let n = id / IN;
    var acc = 0.0;
    for (var o = 0u; o < OUT; o++) {
        acc += d_output[n * OUT + o] * params[W_OFF + o * IN + i];
    }
    d_input[id] = acc;
}

// ---- backward, weights and bias: input, d_output → grads ----
// d_weight = d_outputᵀ · input (one invocation per weight), then d_bias = Σ_n d_output.

@compute @workgroup_size(WORKGROUP)
fn dense_backward_params(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = linear_id(gid, groups);
    let weights = OUT * IN;
    if id >= weights + OUT {
        return;
    }
    var acc = 0.0;
    if id >= weights {
        let o = id - weights;
        for (var n = 0u; n < BATCH; n++) {
            acc += d_output[n * OUT + o];
        }
        grads[B_OFF + o] = acc;
        return;
    }
    let i = id % IN;
    let o = id / IN;
    for (var n = 0u; n < BATCH; n++) {
        acc += d_output[n * OUT + o] * input[n * IN + i];
    }
    grads[W_OFF + id] = acc;
}
