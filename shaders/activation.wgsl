// ReLU on its own, for a ReLU that no producing layer can absorb (one applied to the network's
// input). Everywhere else ReLU is fused: the conv, dense and pool kernels apply it to their
// output (RELU) and the next layer's backward kernel masks its input gradient (MASK_INPUT).
// CPU twin: src/cpu/activation.rs.

override LEN: u32 = 1u;

@group(0) @binding(0) var<storage, read> input: array<f32>;
@group(0) @binding(1) var<storage, read_write> output: array<f32>;

@compute @workgroup_size(WORKGROUP)
fn relu_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = linear_id(gid, groups);
    if id < LEN {
        output[id] = max(input[id], 0.0);
    }
}
