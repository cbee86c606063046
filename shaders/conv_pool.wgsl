// A convolution's forward pass fused with the pool after it. Appended to conv.wgsl (its
// overrides and buffers), after fused.wgsl (POOL, POOL_WINDOW). CPU twins: src/cpu/conv.rs, then
// src/cpu/pool.rs.
//
// When a pool's windows tile the convolution's output exactly (stride = window = 2 or 4, no
// remainder), each invocation computes conv_forward's block (OCB channels x COLS columns of one
// row, summed as conv_forward sums them) and stores it; the invocations of a window's rows are
// in one workgroup, each pools its row's part of the windows, and the first of them
// then pools the rows in order, as pool.wgsl does: the first maximum in row-major order and its
// index within the plane, or the mean of the window's row sums. The pool's own activation is
// POOL_ACTIVATION.

override POOL_ACTIVATION: u32 = 0u;
const MAX_POOLED: u32 = 2u; // windows across a block's COLS columns
@group(0) @binding(12) var<storage, read_write> pooled: array<f32>;
@group(0) @binding(13) var<storage, read_write> pool_argmax_out: array<u32>;
// Each invocation's row of its windows: [invocation][channel][window], a maximum and its index
// or a row sum.
var<workgroup> row_best: array<f32, 1024>; // WORKGROUP * MAX_BLOCK * MAX_POOLED
var<workgroup> row_index: array<u32, 1024>;

fn row_slot(l: u32, j: u32, q: u32) -> u32 {
    return (l * MAX_BLOCK + j) * MAX_POOLED + q;
}

@compute @workgroup_size(WORKGROUP)
fn conv_forward_pool(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                     @builtin(local_invocation_index) l: u32) {
    let id = linear_id(gid, groups);
    let blocks = OC / OCB;
    let col_tiles = (OW + COLS - 1u) / COLS;
    let ph = OH / POOL_WINDOW;
    let pw = OW / POOL_WINDOW;
    // A workgroup's invocations: POOL_WINDOW rows of the same WORKGROUP / POOL_WINDOW blocks, a
    // row after another (neighbouring invocations take neighbouring columns, as conv_forward's).
    let per_row = WORKGROUP / POOL_WINDOW;
    let wy = l / per_row;
    let tile = (id / WORKGROUP) * per_row + l % per_row;
    // No early return: every invocation reaches the barrier.
    let valid = tile < BATCH * blocks * ph * col_tiles;
    let ox0 = (tile % col_tiles) * COLS;
    let py = (tile / col_tiles) % ph;
    let o0 = ((tile / (col_tiles * ph)) % blocks) * OCB;
    let n = tile / (col_tiles * ph * blocks);
    let oy = py * POOL_WINDOW + wy;
    if valid {
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
        // Stored exactly as conv_forward stores them (so the loops unroll and acc stays in
        // registers) ...
        for (var j = 0u; j < OCB; j++) {
            for (var t = 0u; t < COLS; t++) {
                if ox0 + t < OW {
                    output[((n * OC + o0 + j) * OH + oy) * OW + ox0 + t] = activate(acc[j][t], ACTIVATION);
                }
            }
        }
        // ... then this row's part of each window read back: its first maximum, or its sum from 0.
        for (var j = 0u; j < OCB; j++) {
            for (var q = 0u; q < COLS / POOL_WINDOW; q++) {
                let ox = ox0 + q * POOL_WINDOW;
                var best = 0.0;
                var index = 0u;
                if ox < OW {
                    let first = ((n * OC + o0 + j) * OH + oy) * OW + ox;
                    for (var wx = 0u; wx < POOL_WINDOW; wx++) {
                        let y = output[first + wx];
                        if POOL != MAX_POOL {
                            best += y;
                        } else if wx == 0u || y > best {
                            best = y;
                            index = oy * OW + ox + wx;
                        }
                    }
                }
                row_best[row_slot(l, j, q)] = best;
                row_index[row_slot(l, j, q)] = index;
            }
        }
    }
    workgroupBarrier();
    if !valid || wy != 0u {
        return;
    }
    for (var j = 0u; j < OCB; j++) {
        for (var q = 0u; q < COLS / POOL_WINDOW; q++) {
            let px = ox0 / POOL_WINDOW + q;
            if px >= pw {
                continue;
            }
            // The first row's part, then the others in order: a later maximum only if greater;
            // the sum as 0 + each row sum.
            var best = row_best[row_slot(l, j, q)];
            var index = row_index[row_slot(l, j, q)];
            if POOL != MAX_POOL {
                best = 0.0 + best;
            }
            for (var r = 1u; r < POOL_WINDOW; r++) {
                let v = row_best[row_slot(l + r * per_row, j, q)];
                if POOL != MAX_POOL {
                    best += v;
                } else if v > best {
                    best = v;
                    index = row_index[row_slot(l + r * per_row, j, q)];
                }
            }
            let at = ((n * OC + o0 + j) * ph + py) * pw + px;
            if POOL == MAX_POOL {
                pooled[at] = activate(best, POOL_ACTIVATION);
                pool_argmax_out[at] = index;
            } else {
                pooled[at] = activate(best * (1.0 / f32(POOL_WINDOW * POOL_WINDOW)), POOL_ACTIVATION);
            }
        }
    }
}

// ---- the same on a GPU (Blocking::Fine): one invocation per pooled value ----
// It computes its window's convolution outputs as conv_forward_fine does, stores them (the
// backward passes read them), and pools them as pool.wgsl does: the first maximum in row-major
// order and its index within the plane, or the sum of the row sums.

@compute @workgroup_size(WORKGROUP)
fn conv_forward_pool_fine(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = linear_id(gid, groups);
    let ph = OH / POOL_WINDOW;
    let pw = OW / POOL_WINDOW;
    if id >= BATCH * OC * ph * pw {
        return;
    }
    let px = id % pw;
    let py = (id / pw) % ph;
    let o = (id / (pw * ph)) % OC;
    let n = id / (pw * ph * OC);
    var best = 0.0;
    var index = 0u;
    for (var wy = 0u; wy < POOL_WINDOW; wy++) {
        let oy = py * POOL_WINDOW + wy;
        var row_sum = 0.0;
        for (var wx = 0u; wx < POOL_WINDOW; wx++) {
            let ox = px * POOL_WINDOW + wx;
            let y = activate(fine_output_sum(n, o, oy, ox), ACTIVATION);
            output[((n * OC + o) * OH + oy) * OW + ox] = y;
            if POOL != MAX_POOL {
                row_sum += y;
            } else if (wy == 0u && wx == 0u) || y > best {
                best = y;
                index = oy * OW + ox;
            }
        }
        if POOL != MAX_POOL {
            best += row_sum;
        }
    }
    if POOL == MAX_POOL {
        pooled[id] = activate(best, POOL_ACTIVATION);
        pool_argmax_out[id] = index;
    } else {
        pooled[id] = activate(best * (1.0 / f32(POOL_WINDOW * POOL_WINDOW)), POOL_ACTIVATION);
    }
}
