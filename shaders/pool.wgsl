// Max pooling over square windows with a stride, an optional fused ReLU after it, and its
// backward pass. CPU twin: src/cpu/pool.rs.

override BATCH: u32 = 1u;
override C: u32 = 1u;
override H: u32 = 1u;
override W: u32 = 1u;
override OH: u32 = 1u;
override OW: u32 = 1u;
override WINDOW: u32 = 2u;
override STRIDE: u32 = 2u;
override RELU: bool = false;        // forward: apply ReLU to the output
override MASK_INPUT: bool = false;  // backward: the input came out of a ReLU; zero its gradient where it is 0

@group(0) @binding(0) var<storage, read> input: array<f32>;
@group(0) @binding(1) var<storage, read_write> output: array<f32>;
@group(0) @binding(2) var<storage, read_write> argmax_out: array<u32>;
@group(0) @binding(3) var<storage, read> d_output: array<f32>;
@group(0) @binding(4) var<storage, read> argmax_in: array<u32>;
@group(0) @binding(5) var<storage, read_write> d_input: array<f32>;

// ---- forward: input → output, argmax_out (the winner's index within its plane) ----
// Ties go to the first pixel in row-major order, as on the CPU.

@compute @workgroup_size(WORKGROUP)
fn maxpool_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = linear_id(gid, groups);
    if id >= BATCH * C * OH * OW {
        return;
    }
    let ox = id % OW;
    let oy = (id / OW) % OH;
    let plane = (id / (OW * OH)) * H * W;
    var best_index = oy * STRIDE * W + ox * STRIDE;
    var best = -3.4028235e38;
    var found = false;
    for (var ky = 0u; ky < WINDOW; ky++) {
        for (var kx = 0u; kx < WINDOW; kx++) {
            let i = (oy * STRIDE + ky) * W + ox * STRIDE + kx;
            let v = input[plane + i];
            if v > best || !found {
                best = v;
                best_index = i;
                found = true;
            }
        }
    }
    if RELU {
        best = max(best, 0.0);
    }
    output[id] = best;
    argmax_out[id] = best_index;
}

// ---- backward: d_output, argmax_in (and input, for the mask) → d_input ----
// One invocation per input pixel, summing the gradients of every window it won: no two
// invocations write the same place, so overlapping windows need no atomics.

@compute @workgroup_size(WORKGROUP)
fn maxpool_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = linear_id(gid, groups);
    if id >= BATCH * C * H * W {
        return;
    }
    if MASK_INPUT && input[id] <= 0.0 {
        d_input[id] = 0.0;
        return;
    }
    let ix = id % W;
    let iy = (id / W) % H;
    let out_plane = (id / (W * H)) * OH * OW;
    let here = iy * W + ix;
    // Windows containing row iy start at rows oy*STRIDE in (iy - WINDOW, iy].
    let oy_first = select(0u, (iy + STRIDE - WINDOW) / STRIDE, iy + 1u > WINDOW);
    let ox_first = select(0u, (ix + STRIDE - WINDOW) / STRIDE, ix + 1u > WINDOW);
    var acc = 0.0;
    for (var oy = oy_first; oy <= iy / STRIDE && oy < OH; oy++) {
        for (var ox = ox_first; ox <= ix / STRIDE && ox < OW; ox++) {
            let o = out_plane + oy * OW + ox;
            if argmax_in[o] == here {
                acc += d_output[o];
            }
        }
    }
    d_input[id] = acc;
}
