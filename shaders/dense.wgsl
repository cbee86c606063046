// Dense (fully connected) layers: output = input · weightᵀ + bias, weight stored [OUT, IN] as
// PyTorch's Linear stores it, with an optional fused activation; and the backward passes.
// CPU twin: src/cpu/dense.rs.
//
// Each invocation computes a TILE x TILE block of its result, so every value it loads serves
// TILE multiply-adds: register blocking, which suits a CPU-like software adapter; on a GPU the
// entry points at the end of this file run instead (`Blocking` in src/gpu/kernels/mod.rs).
// Loads past an edge are clamped to a valid index and their results dropped.

override BATCH: u32 = 1u;
override IN: u32 = 1u;
override OUT: u32 = 1u;
override ACTIVATION: u32 = 0u;        // forward: applied to the output (common.wgsl)
override INPUT_ACTIVATION: u32 = 0u;  // backward: the one the input came out of
override W_OFF: u32 = 0u;
override B_OFF: u32 = 0u;

const TILE: u32 = 4u;
// The fused backward kernels' split (Blocking): a tile an invocation, or one value (on a GPU).
override FINE: bool = false;

@group(0) @binding(0) var<storage, read> input: array<f32>;
@group(0) @binding(1) var<storage, read> params: array<f32>;
@group(0) @binding(2) var<storage, read_write> output: array<f32>;
@group(0) @binding(3) var<storage, read> d_output: array<f32>;
@group(0) @binding(4) var<storage, read_write> d_input: array<f32>;
@group(0) @binding(5) var<storage, read_write> grads: array<f32>;

fn tiles(n: u32) -> u32 {
    return (n + TILE - 1u) / TILE;
}

// ---- forward: input, params → output; a tile of TILE examples x TILE outputs ----

@compute @workgroup_size(WORKGROUP)
fn dense_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = linear_id(gid, groups);
    if id >= tiles(BATCH) * tiles(OUT) {
        return;
    }
    let o0 = (id % tiles(OUT)) * TILE;
    let n0 = (id / tiles(OUT)) * TILE;
    var acc: array<array<f32, TILE>, TILE>; // [example][output]
    for (var b = 0u; b < TILE; b++) {
        let bias = params[B_OFF + min(o0 + b, OUT - 1u)];
        for (var a = 0u; a < TILE; a++) {
            acc[a][b] = bias;
        }
    }
    for (var i = 0u; i < IN; i++) {
        var x: array<f32, TILE>;
        var w: array<f32, TILE>;
        for (var t = 0u; t < TILE; t++) {
            x[t] = input[min(n0 + t, BATCH - 1u) * IN + i];
            w[t] = params[W_OFF + min(o0 + t, OUT - 1u) * IN + i];
        }
        for (var a = 0u; a < TILE; a++) {
            for (var b = 0u; b < TILE; b++) {
                acc[a][b] += x[a] * w[b];
            }
        }
    }
    for (var a = 0u; a < TILE; a++) {
        for (var b = 0u; b < TILE; b++) {
            if n0 + a < BATCH && o0 + b < OUT {
                output[(n0 + a) * OUT + o0 + b] = activate(acc[a][b], ACTIVATION);
            }
        }
    }
}

// ---- backward, input: d_output, params (and input, for its activation) → d_input = d_output · weight ----
// A tile of TILE examples x TILE input features.

alias Tile = array<array<f32, TILE>, TILE>;

// The input-gradient tile of examples n0.. x features i0.., before the input's activation.
fn input_tile(n0: u32, i0: u32) -> Tile {
    var acc: Tile; // [example][feature]
    for (var o = 0u; o < OUT; o++) {
        var g: array<f32, TILE>;
        var w: array<f32, TILE>;
        for (var t = 0u; t < TILE; t++) {
            g[t] = d_output[min(n0 + t, BATCH - 1u) * OUT + o];
            w[t] = params[W_OFF + o * IN + min(i0 + t, IN - 1u)];
        }
        for (var a = 0u; a < TILE; a++) {
            for (var b = 0u; b < TILE; b++) {
                acc[a][b] += g[a] * w[b];
            }
        }
    }
    return acc;
}

fn input_invocations() -> u32 {
    return select(tiles(BATCH) * tiles(IN), BATCH * IN, FINE);
}

@compute @workgroup_size(WORKGROUP)
fn dense_backward_input(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = linear_id(gid, groups);
    if id >= input_invocations() {
        return;
    }
    let i0 = (id % tiles(IN)) * TILE;
    let n0 = (id / tiles(IN)) * TILE;
    let acc = input_tile(n0, i0);
    for (var a = 0u; a < TILE; a++) {
        for (var b = 0u; b < TILE; b++) {
            if n0 + a < BATCH && i0 + b < IN {
                let at = (n0 + a) * IN + i0 + b;
                d_input[at] = through_activation(acc[a][b], input[at], INPUT_ACTIVATION);
            }
        }
    }
}

// ---- backward, weights and bias: input, d_output → grads ----
// d_weight = d_outputᵀ · input, a tile of TILE outputs x TILE input features per invocation;
// the invocations of the first feature tile also sum d_bias = Σ_n d_output.

struct ParamsTile {
    w: Tile,                  // [output][feature]
    b: array<f32, TILE>,
}

fn params_tile(o0: u32, i0: u32) -> ParamsTile {
    var p: ParamsTile;
    for (var n = 0u; n < BATCH; n++) {
        var g: array<f32, TILE>;
        var x: array<f32, TILE>;
        for (var t = 0u; t < TILE; t++) {
            g[t] = d_output[n * OUT + min(o0 + t, OUT - 1u)];
            x[t] = input[n * IN + min(i0 + t, IN - 1u)];
        }
        for (var a = 0u; a < TILE; a++) {
            p.b[a] += g[a];
            for (var b = 0u; b < TILE; b++) {
                p.w[a][b] += g[a] * x[b];
            }
        }
    }
    return p;
}

fn params_invocations() -> u32 {
    return select(tiles(OUT) * tiles(IN), OUT * IN, FINE);
}

// The tile's gradients stored (each weight of the tile, and with the first feature tile each bias).
fn store_params(p: ParamsTile, o0: u32, i0: u32) {
    for (var a = 0u; a < TILE; a++) {
        if o0 + a >= OUT {
            continue;
        }
        for (var b = 0u; b < TILE; b++) {
            if i0 + b < IN {
                grads[W_OFF + (o0 + a) * IN + i0 + b] = p.w[a][b];
            }
        }
        if i0 == 0u {
            grads[B_OFF + o0 + a] = p.b[a];
        }
    }
}

@compute @workgroup_size(WORKGROUP)
fn dense_backward_params(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = linear_id(gid, groups);
    if id >= params_invocations() {
        return;
    }
    let i0 = (id % tiles(IN)) * TILE;
    let o0 = (id / tiles(IN)) * TILE;
    store_params(params_tile(o0, i0), o0, i0);
}

// ---- backward, both in one dispatch: the first invocations the weight gradient, the rest the
// input gradient (with a pool folded in, fused.wgsl) ----

// The two-job kernels' workgroups for the weight gradient (job_of in fused.wgsl).
fn first_groups() -> u32 {
    return (params_invocations() + WORKGROUP - 1u) / WORKGROUP;
}

@compute @workgroup_size(WORKGROUP)
fn dense_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                  @builtin(local_invocation_index) t: u32) {
    let job = job_of(wid.y * groups.x + wid.x, first_groups());
    if job.x == 0u {
        let id = job.y * WORKGROUP + t;
        if id >= params_invocations() {
            return;
        }
        if FINE {
            store_fine_params(id, fine_params(id));
            return;
        }
        let i0 = (id % tiles(IN)) * TILE;
        let o0 = (id / tiles(IN)) * TILE;
        store_params(params_tile(o0, i0), o0, i0);
        return;
    }
    let k = job.y * WORKGROUP + t;
    if job.x != 1u || k >= input_invocations() {
        return;
    }
    if FINE {
        store_input_grad(k, fine_input_sum(k), input[k]);
        return;
    }
    let i0 = (k % tiles(IN)) * TILE;
    let n0 = (k / tiles(IN)) * TILE;
    let acc = input_tile(n0, i0);
    for (var a = 0u; a < TILE; a++) {
        for (var b = 0u; b < TILE; b++) {
            if n0 + a < BATCH && i0 + b < IN {
                let at = (n0 + a) * IN + i0 + b;
                store_input_grad(at, acc[a][b], input[at]);
            }
        }
    }
}

// ---- backward of the first layer with parameters, and the optimizer's update (fused.wgsl) ----
// The first invocations: the weight gradient, each tile's parameters updated as they are stored;
// the rest: one parameter of the buffer each, every other layer's.

@compute @workgroup_size(WORKGROUP)
fn dense_backward_params_update(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                                @builtin(local_invocation_index) t: u32) {
    let job = job_of(wid.y * groups.x + wid.x, first_groups());
    let id = job.y * WORKGROUP + t;
    if job.x == 1u {
        update_others(id, OUT * IN, OUT);
    }
    if job.x != 0u || id >= params_invocations() {
        return;
    }
    if FINE {
        let p = fine_params(id);
        store_fine_params(id, p);
        update_param(W_OFF + id, p.x);
        if id % IN == 0u {
            update_param(B_OFF + id / IN, p.y);
        }
        return;
    }
    let i0 = (id % tiles(IN)) * TILE;
    let o0 = (id / tiles(IN)) * TILE;
    let p = params_tile(o0, i0);
    store_params(p, o0, i0);
    for (var a = 0u; a < TILE; a++) {
        if o0 + a >= OUT {
            continue;
        }
        for (var b = 0u; b < TILE; b++) {
            if i0 + b < IN {
                update_param(W_OFF + (o0 + a) * IN + i0 + b, p.w[a][b]);
            }
        }
        if i0 == 0u {
            update_param(B_OFF + o0 + a, p.b[a]);
        }
    }
}

// ---- forward on a GPU (Blocking::Fine): input, params → output ----
// One workgroup per example and block of SPLIT outputs: its threads split the input features
// (neighbouring threads read neighbouring values), so each sum is WORKGROUP short chains instead
// of one long one, then add their partial sums in a fixed tree. A GPU hides memory latency with
// many short invocations; one invocation per output left fc1's 400-long sums latency-bound.

const SPLIT: u32 = 8u;
var<workgroup> split_partial: array<f32, 512>; // SPLIT * WORKGROUP

@compute @workgroup_size(WORKGROUP)
fn dense_forward_split(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                       @builtin(local_invocation_index) t: u32) {
    let blocks = (OUT + SPLIT - 1u) / SPLIT;
    let group = wid.y * groups.x + wid.x;
    if group >= BATCH * blocks {
        return;
    }
    let o0 = (group % blocks) * SPLIT;
    let n = group / blocks;
    var acc: array<f32, SPLIT>;
    for (var i = t; i < IN; i += WORKGROUP) {
        let x = input[n * IN + i];
        for (var j = 0u; j < SPLIT; j++) {
            acc[j] += x * params[W_OFF + min(o0 + j, OUT - 1u) * IN + i];
        }
    }
    for (var j = 0u; j < SPLIT; j++) {
        split_partial[j * WORKGROUP + t] = acc[j];
    }
    workgroupBarrier();
    for (var half = WORKGROUP / 2u; half > 0u; half /= 2u) {
        if t < half {
            for (var j = 0u; j < SPLIT; j++) {
                split_partial[j * WORKGROUP + t] += split_partial[j * WORKGROUP + t + half];
            }
        }
        workgroupBarrier();
    }
    if t < SPLIT && o0 + t < OUT {
        let sum = params[B_OFF + o0 + t] + split_partial[t * WORKGROUP];
        output[n * OUT + o0 + t] = activate(sum, ACTIVATION);
    }
}

// ---- backward on a GPU (Blocking::Fine): one invocation per value, LANES independent sums ----
// The sums run over the batch (weight gradient) or the outputs (input gradient): each
// invocation keeps LANES of them, taking LANES terms at a time, so that LANES loads are in
// flight at once rather than one dependent chain.

const LANES: u32 = 4u;

// d_weight[o, i] = Σ_n d_output[n, o] · input[n, i] for value id = o * IN + i, and
// d_bias[o] = Σ_n d_output[n, o].
fn fine_params(id: u32) -> vec2<f32> {
    let i = id % IN;
    let o = id / IN;
    var acc: array<f32, LANES>;
    var bias: array<f32, LANES>;
    for (var n0 = 0u; n0 < BATCH; n0 += LANES) {
        for (var l = 0u; l < LANES; l++) {
            let n = min(n0 + l, BATCH - 1u);
            let g = select(0.0, d_output[n * OUT + o], n0 + l < BATCH);
            acc[l] += g * input[n * IN + i];
            bias[l] += g;
        }
    }
    return vec2<f32>((acc[0] + acc[1]) + (acc[2] + acc[3]), (bias[0] + bias[1]) + (bias[2] + bias[3]));
}

// The weight gradient, and with feature 0 the bias gradient.
fn store_fine_params(id: u32, p: vec2<f32>) {
    grads[W_OFF + id] = p.x;
    if id % IN == 0u {
        grads[B_OFF + id / IN] = p.y;
    }
}

@compute @workgroup_size(WORKGROUP)
fn dense_backward_params_fine(@builtin(global_invocation_id) gid: vec3<u32>,
                              @builtin(num_workgroups) groups: vec3<u32>) {
    let id = linear_id(gid, groups);
    if id >= OUT * IN {
        return;
    }
    store_fine_params(id, fine_params(id));
}

// d_input[n, i] = Σ_o d_output[n, o] · weight[o, i] for value id = n * IN + i, before the
// input's activation.
fn fine_input_sum(id: u32) -> f32 {
    let i = id % IN;
    let n = id / IN;
    var acc: array<f32, LANES>;
    for (var o0 = 0u; o0 < OUT; o0 += LANES) {
        for (var l = 0u; l < LANES; l++) {
            let o = min(o0 + l, OUT - 1u);
            let g = select(0.0, d_output[n * OUT + o], o0 + l < OUT);
            acc[l] += g * params[W_OFF + o * IN + i];
        }
    }
    return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

@compute @workgroup_size(WORKGROUP)
fn dense_backward_input_fine(@builtin(global_invocation_id) gid: vec3<u32>,
                             @builtin(num_workgroups) groups: vec3<u32>) {
    let id = linear_id(gid, groups);
    if id >= BATCH * IN {
        return;
    }
    d_input[id] = through_activation(fine_input_sum(id), input[id], INPUT_ACTIVATION);
}
