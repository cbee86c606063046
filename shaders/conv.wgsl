// 2-D convolution (cross-correlation, as PyTorch) with bias and an optional fused activation, and
// its input gradient (the weight gradient is conv_params.wgsl's). CPU twin: src/cpu/conv.rs (and
// src/cpu/activation.rs for the activation).
//
// Weights and biases live in the flat parameter buffer at W_OFF and B_OFF; their gradients at
// the same offsets in the flat gradient buffer. Tensors are NCHW.

override BATCH: u32 = 1u;
override C: u32 = 1u;          // input channels
override H: u32 = 1u;
override W: u32 = 1u;
override OC: u32 = 1u;         // output channels
override OH: u32 = 1u;
override OW: u32 = 1u;
override KH: u32 = 1u;
override KW: u32 = 1u;
override STRIDE: u32 = 1u;
override PAD: u32 = 0u;
override ACTIVATION: u32 = 0u;        // forward: applied to the output (common.wgsl)
override INPUT_ACTIVATION: u32 = 0u;  // backward: the one the input came out of
override W_OFF: u32 = 0u;
override B_OFF: u32 = 0u;
// Register blocking: each invocation computes OCB output channels (forward, times COLS columns),
// CB input channels (input gradient) or KWB kernel columns (weight gradient), each a divisor of
// its dimension and at most MAX_BLOCK, so every loaded value is used several times.
override OCB: u32 = 1u;
override CB: u32 = 1u;
override KWB: u32 = 1u;
override OB: u32 = 1u;   // weight gradient: output channels per workgroup (at most MAX_OB)
const MAX_BLOCK: u32 = 8u;

// Each entry point binds only the buffers it uses.
@group(0) @binding(0) var<storage, read> input: array<f32>;
@group(0) @binding(1) var<storage, read> params: array<f32>;
@group(0) @binding(2) var<storage, read_write> output: array<f32>;
@group(0) @binding(3) var<storage, read> d_output: array<f32>;
@group(0) @binding(4) var<storage, read_write> d_input: array<f32>;
@group(0) @binding(5) var<storage, read_write> grads: array<f32>;

// ---- forward: input, params → output ----
// One invocation per block of OCB output channels x COLS neighbouring output columns: each
// weight it loads serves COLS outputs and each input value up to OCB. This register blocking
// suits a CPU-like software adapter; on a GPU the `_fine` entry points at the end of this file
// run instead (`Blocking` in src/gpu/kernels/mod.rs).

const COLS: u32 = 4u;
// Independent sums each fine invocation keeps, so that LANES loads are in flight at once.
const LANES: u32 = 4u;

@compute @workgroup_size(WORKGROUP)
fn conv_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = linear_id(gid, groups);
    let blocks = OC / OCB;
    let col_tiles = (OW + COLS - 1u) / COLS;
    if id >= BATCH * blocks * OH * col_tiles {
        return;
    }
    let ox0 = (id % col_tiles) * COLS;
    let oy = (id / col_tiles) % OH;
    let o0 = ((id / (col_tiles * OH)) % blocks) * OCB;
    let n = id / (col_tiles * OH * blocks);
    var acc: array<array<f32, COLS>, MAX_BLOCK>; // [channel][column]
    for (var j = 0u; j < OCB; j++) {
        let bias = params[B_OFF + o0 + j];
        for (var t = 0u; t < COLS; t++) {
            acc[j][t] = bias;
        }
    }
    for (var ch = 0u; ch < C; ch++) {
        let plane = (n * C + ch) * H * W;
        for (var ky = 0u; ky < KH; ky++) {
            let iy = i32(oy * STRIDE + ky) - i32(PAD);
            if iy < 0 || iy >= i32(H) {
                continue;
            }
            let row = plane + u32(iy) * W;
            for (var kx = 0u; kx < KW; kx++) {
                var x: array<f32, COLS>;
                for (var t = 0u; t < COLS; t++) {
                    let ix = i32((ox0 + t) * STRIDE + kx) - i32(PAD);
                    let inside = ix >= 0 && ix < i32(W);
                    x[t] = select(0.0, input[row + u32(clamp(ix, 0, i32(W) - 1))], inside);
                }
                let tap = W_OFF + (o0 * C + ch) * KH * KW + ky * KW + kx;
                for (var j = 0u; j < OCB; j++) {
                    let w = params[tap + j * C * KH * KW];
                    for (var t = 0u; t < COLS; t++) {
                        acc[j][t] += w * x[t];
                    }
                }
            }
        }
    }
    for (var j = 0u; j < OCB; j++) {
        for (var t = 0u; t < COLS; t++) {
            if ox0 + t < OW {
                output[((n * OC + o0 + j) * OH + oy) * OW + ox0 + t] = activate(acc[j][t], ACTIVATION);
            }
        }
    }
}

// The output position whose window puts tap k on input position i, along an axis of out_len
// output positions; -1 if none does.
fn output_under(i: u32, k: u32, out_len: u32) -> i32 {
    let t = i32(i + PAD) - i32(k);
    if t < 0 || t % i32(STRIDE) != 0 || t / i32(STRIDE) >= i32(out_len) {
        return -1;
    }
    return t / i32(STRIDE);
}

// ---- backward, input: d_output, params (and input, for its activation) → d_input ----
// (With a pool folded in, fused.wgsl, on through it: then d_input is the pool's output gradient,
// unused, and d_pre_pool is written.)
// One invocation per block of CB input channels x COLS neighbouring input columns: each output
// gradient it loads serves CB channels, each weight COLS columns.

fn input_invocations() -> u32 {
    return BATCH * (C / CB) * H * ((W + COLS - 1u) / COLS);
}

// Invocation id's first input element (n, c0, iy, ix0).
fn input_block(id: u32) -> vec4<u32> {
    let blocks = C / CB;
    let col_tiles = (W + COLS - 1u) / COLS;
    let ix0 = (id % col_tiles) * COLS;
    let iy = (id / col_tiles) % H;
    let c0 = ((id / (col_tiles * H)) % blocks) * CB;
    let n = id / (col_tiles * H * blocks);
    return vec4<u32>(n, c0, iy, ix0);
}

// The input gradient of the block at `at`, before the input's activation: [channel][column].
fn input_sums(at: vec4<u32>) -> array<array<f32, COLS>, MAX_BLOCK> {
    let n = at.x;
    let c0 = at.y;
    let iy = at.z;
    let ix0 = at.w;
    var acc: array<array<f32, COLS>, MAX_BLOCK>; // [channel][column]
    for (var ky = 0u; ky < KH; ky++) {
        // The output row whose window puts tap ky on input row iy, if any.
        let row = output_under(iy, ky, OH);
        if row < 0 {
            continue;
        }
        let oy = u32(row);
        for (var kx = 0u; kx < KW; kx++) {
            // For each column, the output column whose window puts tap kx on it, if any.
            var ox: array<u32, COLS>;
            var valid: array<bool, COLS>;
            for (var t = 0u; t < COLS; t++) {
                let column = output_under(ix0 + t, kx, OW);
                valid[t] = column >= 0 && ix0 + t < W;
                ox[t] = u32(max(column, 0));
            }
            for (var o = 0u; o < OC; o++) {
                let row = ((n * OC + o) * OH + oy) * OW;
                var g: array<f32, COLS>;
                for (var t = 0u; t < COLS; t++) {
                    g[t] = select(0.0, d_output[row + min(ox[t], OW - 1u)], valid[t]);
                }
                let tap = W_OFF + ((o * C + c0) * KH + ky) * KW + kx;
                for (var j = 0u; j < CB; j++) {
                    let w = params[tap + j * KH * KW];
                    for (var t = 0u; t < COLS; t++) {
                        acc[j][t] += g[t] * w;
                    }
                }
            }
        }
    }
    return acc;
}

// The input gradient of the block at `b` stored (store_input_grad: on through a folded pool).
fn store_input_block(b: vec4<u32>) {
    let acc = input_sums(b);
    for (var j = 0u; j < CB; j++) {
        for (var t = 0u; t < COLS; t++) {
            if b.w + t < W {
                let at = ((b.x * C + b.y + j) * H + b.z) * W + b.w + t;
                store_input_grad(at, acc[j][t], input[at]);
            }
        }
    }
}

@compute @workgroup_size(WORKGROUP)
fn conv_backward_input(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = linear_id(gid, groups);
    if id >= input_invocations() {
        return;
    }
    store_input_block(input_block(id));
}

// ---- backward, input, on a GPU (FINE): d_output, params (and input) → d_input ----
// One invocation per input value; over the output channels it keeps LANES independent sums
// (channel o in sum o % LANES), so that LANES loads are in flight at once.

// Input value id's gradient, before the input's activation.
fn fine_input_sum(id: u32) -> f32 {
    let ix = id % W;
    let iy = (id / W) % H;
    let c = (id / (W * H)) % C;
    let n = id / (W * H * C);
    var acc: array<f32, LANES>;
    for (var ky = 0u; ky < KH; ky++) {
        // The output row whose window puts tap ky on input row iy, if any; likewise columns.
        let row = output_under(iy, ky, OH);
        if row < 0 {
            continue;
        }
        let oy = u32(row);
        for (var kx = 0u; kx < KW; kx++) {
            let column = output_under(ix, kx, OW);
            if column < 0 {
                continue;
            }
            let ox = u32(column);
            for (var o0 = 0u; o0 < OC; o0 += LANES) {
                for (var l = 0u; l < LANES; l++) {
                    let o = min(o0 + l, OC - 1u);
                    let g = select(0.0, d_output[((n * OC + o) * OH + oy) * OW + ox], o0 + l < OC);
                    acc[l] += g * params[W_OFF + ((o * C + c) * KH + ky) * KW + kx];
                }
            }
        }
    }
    return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

@compute @workgroup_size(WORKGROUP)
fn conv_backward_input_fine(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = linear_id(gid, groups);
    if id >= BATCH * C * H * W {
        return;
    }
    store_input_grad(id, fine_input_sum(id), input[id]);
}

// ---- forward on a GPU (Blocking::Fine): input, params → output ----
// One invocation per output value; over each channel's KH x KW taps it keeps LANES independent
// sums (tap k in sum k % LANES), so that LANES loads are in flight at once.

// Output value (n, o, oy, ox) before the activation.
fn fine_output_sum(n: u32, o: u32, oy: u32, ox: u32) -> f32 {
    let taps = KH * KW;
    var acc: array<f32, LANES>;
    for (var ch = 0u; ch < C; ch++) {
        let plane = (n * C + ch) * H * W;
        let weights = W_OFF + (o * C + ch) * taps;
        for (var k0 = 0u; k0 < taps; k0 += LANES) {
            for (var l = 0u; l < LANES; l++) {
                let k = min(k0 + l, taps - 1u);
                let iy = i32(oy * STRIDE + k / KW) - i32(PAD);
                let ix = i32(ox * STRIDE + k % KW) - i32(PAD);
                let inside = k0 + l < taps && iy >= 0 && iy < i32(H) && ix >= 0 && ix < i32(W);
                let at = plane + u32(clamp(iy, 0, i32(H) - 1)) * W + u32(clamp(ix, 0, i32(W) - 1));
                acc[l] += select(0.0, input[at], inside) * params[weights + k];
            }
        }
    }
    return params[B_OFF + o] + ((acc[0] + acc[1]) + (acc[2] + acc[3]));
}

@compute @workgroup_size(WORKGROUP)
fn conv_forward_fine(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = linear_id(gid, groups);
    if id >= BATCH * OC * OH * OW {
        return;
    }
    let ox = id % OW;
    let oy = (id / OW) % OH;
    let o = (id / (OW * OH)) % OC;
    let n = id / (OW * OH * OC);
    output[id] = activate(fine_output_sum(n, o, oy, ox), ACTIVATION);
}
