// Max and average pooling over square windows with a stride, an optional fused activation after
// them, and their backward passes. CPU twin: src/cpu/pool.rs.

override BATCH: u32 = 1u;
override C: u32 = 1u;
override H: u32 = 1u;
override W: u32 = 1u;
override OH: u32 = 1u;
override OW: u32 = 1u;
override WINDOW: u32 = 2u;
override STRIDE: u32 = 2u;
override ACTIVATION: u32 = 0u;        // forward: applied to the output (common.wgsl)
override INPUT_ACTIVATION: u32 = 0u;  // backward: the one the input came out of

@group(0) @binding(0) var<storage, read> input: array<f32>;
@group(0) @binding(1) var<storage, read_write> output: array<f32>;
@group(0) @binding(2) var<storage, read_write> argmax_out: array<u32>;
@group(0) @binding(3) var<storage, read> d_output: array<f32>;
@group(0) @binding(4) var<storage, read> argmax_in: array<u32>;
@group(0) @binding(5) var<storage, read_write> d_input: array<f32>;

// ---- max pooling, forward: input → output, argmax_out (the winner's index within its plane) ----
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
    // The lowest finite f32, written exactly: Chromium's WGSL compiler (Tint) refuses a decimal
    // literal such as -3.4028235e38 that lies beyond f32's range before rounding.
    var best = -0x1.fffffep+127f;
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
    output[id] = activate(best, ACTIVATION);
    argmax_out[id] = best_index;
}

// The first output row (or column) whose window covers input row (or column) i: windows
// containing i start at o*STRIDE in (i - WINDOW, i].
fn first_window(i: u32) -> u32 {
    return select(0u, (i + STRIDE - WINDOW) / STRIDE, i + 1u > WINDOW);
}

// ---- max pooling, backward: d_output, argmax_in (and input, for its activation) → d_input ----
// One invocation per input pixel, summing the gradients of every window it won: no two
// invocations write the same place, so overlapping windows need no atomics.

@compute @workgroup_size(WORKGROUP)
fn maxpool_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = linear_id(gid, groups);
    if id >= BATCH * C * H * W {
        return;
    }
    if INPUT_ACTIVATION == RELU && input[id] <= 0.0 {
        d_input[id] = 0.0; // no gradient passes a ReLU that was off: skip the search
        return;
    }
    let ix = id % W;
    let iy = (id / W) % H;
    let out_plane = (id / (W * H)) * OH * OW;
    let here = iy * W + ix;
    var acc = 0.0;
    for (var oy = first_window(iy); oy <= iy / STRIDE && oy < OH; oy++) {
        for (var ox = first_window(ix); ox <= ix / STRIDE && ox < OW; ox++) {
            let o = out_plane + oy * OW + ox;
            if argmax_in[o] == here {
                acc += d_output[o];
            }
        }
    }
    d_input[id] = through_activation(acc, input[id], INPUT_ACTIVATION);
}

// ---- average pooling, forward: input → output, the mean of each window ----
// Row sums first, then their sum, as on the CPU.

@compute @workgroup_size(WORKGROUP)
fn avgpool_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = linear_id(gid, groups);
    if id >= BATCH * C * OH * OW {
        return;
    }
    let ox = id % OW;
    let oy = (id / OW) % OH;
    let plane = (id / (OW * OH)) * H * W;
    var sum = 0.0;
    for (var ky = 0u; ky < WINDOW; ky++) {
        let row = plane + (oy * STRIDE + ky) * W + ox * STRIDE;
        var row_sum = 0.0;
        for (var kx = 0u; kx < WINDOW; kx++) {
            row_sum += input[row + kx];
        }
        sum += row_sum;
    }
    output[id] = activate(sum * (1.0 / f32(WINDOW * WINDOW)), ACTIVATION);
}

// ---- average pooling, backward: d_output (and input, for its activation) → d_input ----
// One invocation per input pixel, summing its share of the gradient of every window that covers it.

@compute @workgroup_size(WORKGROUP)
fn avgpool_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = linear_id(gid, groups);
    if id >= BATCH * C * H * W {
        return;
    }
    let ix = id % W;
    let iy = (id / W) % H;
    let out_plane = (id / (W * H)) * OH * OW;
    var acc = 0.0;
    for (var oy = first_window(iy); oy <= iy / STRIDE && oy < OH; oy++) {
        for (var ox = first_window(ix); ox <= ix / STRIDE && ox < OW; ox++) {
            acc += d_output[out_plane + oy * OW + ox] * (1.0 / f32(WINDOW * WINDOW));
        }
    }
    d_input[id] = through_activation(acc, input[id], INPUT_ACTIVATION);
}
