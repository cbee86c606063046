// A convolution's weight and bias gradients, appended to conv.wgsl (its overrides and buffers).
// CPU twin: src/cpu/conv.rs.

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
const MAX_OB: u32 = 4u;
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

