// 2-D convolution (cross-correlation, as PyTorch) with bias and an optional fused activation, and
// its backward passes. CPU twin: src/cpu/conv.rs (and src/cpu/activation.rs for the activation).
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

@compute @workgroup_size(WORKGROUP)
fn conv_backward_input(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = linear_id(gid, groups);
    if id >= input_invocations() {
        return;
    }
    let b = input_block(id);
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

// ---- backward, weights and bias: input, d_output → grads ----
// One workgroup per (block of OB output channels, input channel, kernel row, block of KWB
// kernel columns): its THREADS threads split the batch's output positions between them
// (neighbouring threads read neighbouring values), then their partial sums are added in a fixed
// tree. The workgroups of input channel 0, kernel row 0 and the first column block also sum the
// bias gradients of their OB channels. Slot s of thread t is partial[s * THREADS + t]: OB x KWB
// weight sums, then OB bias sums.
// Blocked (a CPU-like adapter): 64 threads, each summing OB x KWB weights. Fine (FINE, on a GPU):
// one weight a workgroup (OB = KWB = 1) of 256 threads, each keeping LANES independent sums
// (positions t, t + THREADS, …, taken LANES at a time) so that LANES loads are in flight at
// once: conv1's sums are 64 x 28 x 28 terms long, and one dependent chain of loads each left
// them latency-bound.

override THREADS: u32 = 64u;
override FINE: bool = false;
override TOTAL_GROUPS: u32 = 1u; // the two-job kernels' workgroups (job_of in common.wgsl)
const MAX_OB: u32 = 4u;
const LANES: u32 = 4u;
var<workgroup> partial: array<f32, 2304>; // (OB * KWB + OB) * THREADS at most (the host checks)

fn params_groups() -> u32 {
    return (OC / OB) * C * KH * (KW / KWB);
}

// Workgroup `group`'s block: (first output channel, input channel, kernel row, first column).
fn params_block(group: u32) -> vec4<u32> {
    let col_blocks = KW / KWB;
    let kx0 = (group % col_blocks) * KWB;
    let ky = (group / col_blocks) % KH;
    let ch = (group / (col_blocks * KH)) % C;
    let o0 = (group / (col_blocks * KH * C)) * OB;
    return vec4<u32>(o0, ch, ky, kx0);
}

// Whether the block also sums its channels' bias gradients.
fn with_bias(b: vec4<u32>) -> bool {
    return b.y == 0u && b.z == 0u && b.w == 0u;
}

// Thread t's OB x KWB weight sums and OB bias sums of the block, into its partial slots.
fn blocked_partials(blk: vec4<u32>, t: u32) {
    let o0 = blk.x;
    let ch = blk.y;
    let ky = blk.z;
    let kx0 = blk.w;
    var acc: array<array<f32, MAX_BLOCK>, MAX_OB>; // [channel][column]
    var bias: array<f32, MAX_OB>;
    for (var q = t; q < BATCH * OH * OW; q += THREADS) {
        let ox = q % OW;
        let oy = (q / OW) % OH;
        let n = q / (OW * OH);
        var g: array<f32, MAX_OB>;
        for (var a = 0u; a < OB; a++) {
            g[a] = d_output[((n * OC + o0 + a) * OH + oy) * OW + ox];
            bias[a] += g[a];
        }
        let iy = i32(oy * STRIDE + ky) - i32(PAD);
        if iy < 0 || iy >= i32(H) {
            continue;
        }
        let row = ((n * C + ch) * H + u32(iy)) * W;
        for (var b = 0u; b < KWB; b++) {
            let ix = i32(ox * STRIDE + kx0 + b) - i32(PAD);
            let x = select(0.0, input[row + u32(clamp(ix, 0, i32(W) - 1))], ix >= 0 && ix < i32(W));
            for (var a = 0u; a < OB; a++) {
                acc[a][b] += g[a] * x;
            }
        }
    }
    for (var a = 0u; a < OB; a++) {
        for (var b = 0u; b < KWB; b++) {
            partial[(a * KWB + b) * THREADS + t] = acc[a][b];
        }
        partial[(OB * KWB + a) * THREADS + t] = bias[a];
    }
}

// Thread t's sums of the block's one weight and its bias (OB = KWB = 1), LANES at a time.
fn fine_partials(blk: vec4<u32>, t: u32) {
    let o = blk.x;
    let ch = blk.y;
    let ky = blk.z;
    let kx = blk.w;
    let positions = BATCH * OH * OW;
    var acc: array<f32, LANES>;
    var bias: array<f32, LANES>;
    for (var q0 = t; q0 < positions; q0 += LANES * THREADS) {
        for (var l = 0u; l < LANES; l++) {
            let q = q0 + l * THREADS;
            if q >= positions {
                break;
            }
            let ox = q % OW;
            let oy = (q / OW) % OH;
            let n = q / (OW * OH);
            let g = d_output[((n * OC + o) * OH + oy) * OW + ox];
            bias[l] += g;
            let iy = i32(oy * STRIDE + ky) - i32(PAD);
            let ix = i32(ox * STRIDE + kx) - i32(PAD);
            let inside = iy >= 0 && iy < i32(H) && ix >= 0 && ix < i32(W);
            let at = ((n * C + ch) * H + u32(clamp(iy, 0, i32(H) - 1))) * W + u32(clamp(ix, 0, i32(W) - 1));
            acc[l] += g * select(0.0, input[at], inside);
        }
    }
    partial[t] = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    partial[THREADS + t] = (bias[0] + bias[1]) + (bias[2] + bias[3]);
}

// The block's sums, reduced in a fixed tree: weight (a, b) at partial[(a * KWB + b) * THREADS],
// bias a at partial[(OB * KWB + a) * THREADS]. Every thread of the workgroup must call it (it
// has barriers).
fn params_sums(blk: vec4<u32>, t: u32) {
    if FINE {
        fine_partials(blk, t);
    } else {
        blocked_partials(blk, t);
    }
    workgroupBarrier();
    let bias_too = with_bias(blk);
    for (var half = THREADS / 2u; half > 0u; half /= 2u) {
        if t < half {
            for (var a = 0u; a < OB; a++) {
                for (var b = 0u; b < KWB; b++) {
                    let at = (a * KWB + b) * THREADS + t;
                    partial[at] += partial[at + half];
                }
                if bias_too {
                    let at = (OB * KWB + a) * THREADS + t;
                    partial[at] += partial[at + half];
                }
            }
        }
        workgroupBarrier();
    }
}

fn weight_index(blk: vec4<u32>, a: u32, b: u32) -> u32 {
    return W_OFF + (((blk.x + a) * C + blk.y) * KH + blk.z) * KW + blk.w + b;
}

// Thread 0 stores the block's reduced sums.
fn store_params(blk: vec4<u32>) {
    for (var a = 0u; a < OB; a++) {
        for (var b = 0u; b < KWB; b++) {
            grads[weight_index(blk, a, b)] = partial[(a * KWB + b) * THREADS];
        }
        if with_bias(blk) {
            grads[B_OFF + blk.x + a] = partial[(OB * KWB + a) * THREADS];
        }
    }
}

@compute @workgroup_size(THREADS)
fn conv_backward_params(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                        @builtin(local_invocation_index) t: u32) {
    let group = wid.y * groups.x + wid.x;
    if group >= params_groups() {
        return;
    }
    let blk = params_block(group);
    params_sums(blk, t);
    if t == 0u {
        store_params(blk);
    }
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

// ---- backward, both in one dispatch: the first workgroups the weight gradient, the rest the
// input gradient (THREADS values or blocks a workgroup; with a pool folded in, fused.wgsl) ----

@compute @workgroup_size(THREADS)
fn conv_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                 @builtin(local_invocation_index) t: u32) {
    let job = job_of(wid.y * groups.x + wid.x, params_groups(), TOTAL_GROUPS);
    if job.x == 0u {
        let blk = params_block(job.y);
        params_sums(blk, t);
        if t == 0u {
            store_params(blk);
        }
        return;
    }
    let id = job.y * THREADS + t;
    if job.x != 1u {
        return;
    }
    if FINE {
        if id < BATCH * C * H * W {
            store_input_grad(id, fine_input_sum(id), input[id]);
        }
        return;
    }
    if id >= input_invocations() {
        return;
    }
    let b = input_block(id);
    let acc = input_sums(b);
    for (var j = 0u; j < CB; j++) {
        for (var c = 0u; c < COLS; c++) {
            if b.w + c < W {
                let at = ((b.x * C + b.y + j) * H + b.z) * W + b.w + c;
                store_input_grad(at, acc[j][c], input[at]);
            }
        }
    }
}

// ---- backward of the first layer with parameters, and the optimizer's update (fused.wgsl) ----
// The first workgroups: the weight gradient, each block's parameters updated as they are
// stored; the rest: every other layer's parameters, each thread every UPDATE_THREADS-th.

@compute @workgroup_size(THREADS)
fn conv_backward_params_update(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                               @builtin(local_invocation_index) t: u32) {
    let job = job_of(wid.y * groups.x + wid.x, params_groups(), TOTAL_GROUPS);
    if job.x == 1u {
        update_others(job.y * THREADS + t, OC * C * KH * KW, OC);
    }
    if job.x != 0u {
        return;
    }
    let blk = params_block(job.y);
    params_sums(blk, t);
    if t == 0u {
        store_params(blk);
        for (var a = 0u; a < OB; a++) {
            for (var b = 0u; b < KWB; b++) {
                update_param(weight_index(blk, a, b), partial[(a * KWB + b) * THREADS]);
            }
            if with_bias(blk) {
                update_param(B_OFF + blk.x + a, partial[(OB * KWB + a) * THREADS]);
            }
        }
    }
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
