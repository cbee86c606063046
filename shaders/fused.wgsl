// What a training step fuses into the backward kernels of conv.wgsl and dense.wgsl (prepended to
// both): a pool's backward pass folded into the input gradient they write, and the optimizer's
// update of the parameters whose gradients they finish. Each does what the unfused kernels do
// (pool.wgsl's backward, optimizer.wgsl), in the same order of arithmetic.

// ---- a pool folded into the input gradient ----
// When the layer's input is a pool's output whose windows tile its input exactly (stride =
// window, no remainder), each input-gradient value goes straight on through the pool (to its
// window's winner, or shared evenly) and the activation before it, so the pool's own backward
// dispatch is not needed. POOL: 0 none (store d_input), 1 max, 2 average.
override POOL: u32 = 0u;
override POOL_WINDOW: u32 = 1u;
override PRE_H: u32 = 1u;              // the pool's input plane
override PRE_W: u32 = 1u;
override PRE_ACTIVATION: u32 = 0u;     // the activation the pool's input came out of
const MAX_POOL: u32 = 1u;

@group(0) @binding(6) var<storage, read> pool_argmax: array<u32>;
@group(0) @binding(7) var<storage, read> pre_pool: array<f32>;
@group(0) @binding(8) var<storage, read_write> d_pre_pool: array<f32>;

// Stores the input gradient g at `at`, taken back through the activation the input came out of
// (whose output there is y); with a pool folded in, on through it and the activation before it.
fn store_input_grad(at: u32, g: f32, y: f32) {
    let d = through_activation(g, y, INPUT_ACTIVATION);
    if POOL == 0u {
        d_input[at] = d;
        return;
    }
    let pw = PRE_W / POOL_WINDOW;
    let ph = PRE_H / POOL_WINDOW;
    let px = at % pw;
    let py = (at / pw) % ph;
    let base = (at / (pw * ph)) * PRE_H * PRE_W;
    var winner = 0u;
    if POOL == MAX_POOL {
        winner = pool_argmax[at];
    }
    for (var wy = 0u; wy < POOL_WINDOW; wy++) {
        for (var wx = 0u; wx < POOL_WINDOW; wx++) {
            let i = (py * POOL_WINDOW + wy) * PRE_W + px * POOL_WINDOW + wx;
            // As maxpool_backward / avgpool_backward sum it: 0 + the one window's share. A max
            // pool's losers get 0 through any activation (y = tanh's output keeps 1 - y² ≥ 0),
            // so their input is not read.
            if POOL == MAX_POOL {
                var share = 0.0;
                if i == winner {
                    share = through_activation(0.0 + d, pre_pool[base + i], PRE_ACTIVATION);
                }
                d_pre_pool[base + i] = share;
            } else {
                let share = 0.0 + d * (1.0 / f32(POOL_WINDOW * POOL_WINDOW));
                d_pre_pool[base + i] = through_activation(share, pre_pool[base + i], PRE_ACTIVATION);
            }
        }
    }
}

// ---- the optimizer's update ----
// The last backward kernel of a step (the first layer's weight gradient: no later kernel reads
// any parameter) updates each parameter whose gradient it finishes as it stores it, and, in
// workgroups of its own, every other parameter (their gradients finished by earlier dispatches).
// OPTIMIZER: 1 SGD with momentum, 2 Adam. The gradients are still stored, for tests to read.
override OPTIMIZER: u32 = 1u;
override PARAMS_LEN: u32 = 1u;
const ADAM: u32 = 2u;

@group(0) @binding(9) var<storage, read_write> params_rw: array<f32>;
@group(0) @binding(10) var<storage, read_write> first: array<f32>;   // SGD velocity, Adam m
@group(0) @binding(11) var<storage, read_write> second: array<f32>;  // Adam v
@group(1) @binding(0) var<uniform> step: Step;

fn update_param(i: u32, g: f32) {
    if OPTIMIZER == ADAM {
        let r = adam_update(params_rw[i], g, first[i], second[i], step);
        params_rw[i] = r.x;
        first[i] = r.y;
        second[i] = r.z;
    } else {
        let r = sgd_update(params_rw[i], g, first[i], step);
        params_rw[i] = r.x;
        first[i] = r.y;
    }
}

// Invocations of the update's own range: each takes every UPDATE_THREADS-th parameter (a few
// workgroups, not one per 64 parameters: each workgroup costs a software rasterizer a setup).
override UPDATE_THREADS: u32 = 64u;

// From parameter `first` on, every UPDATE_THREADS-th updated, except the layer's own (weight at
// W_OFF, `weights` long; bias at B_OFF, `biases` long), which its gradient's invocations update.
fn update_others(first: u32, weights: u32, biases: u32) {
    if first >= UPDATE_THREADS {
        return; // a 2-D grid's spare invocation: its parameters are another's
    }
    for (var i = first; i < PARAMS_LEN; i += UPDATE_THREADS) {
        let own = (i >= W_OFF && i < W_OFF + weights) || (i >= B_OFF && i < B_OFF + biases);
        if !own {
            update_param(i, grads[i]);
        }
    }
}

// A dispatch doing two jobs (a weight gradient and an input gradient, say): which job workgroup
// g of the dispatch's TOTAL_GROUPS does, and its index within that job, when `first` workgroups
// do the first job.
// The first job's workgroups are spread evenly among the others, not put first: a software
// adapter (lavapipe) hands each of its threads one contiguous range of a dispatch's
// workgroups, so with the heavier job first one thread would do nearly all of it. SPREAD is
// false only where g * first could overflow (the host checks): then the first job goes first.
// Returns (0, index) for the first job, (1, index) for the second, (2, 0) for none (a 2-D grid's
// spare workgroups past TOTAL_GROUPS). `two_jobs` in src/gpu/kernels/fused.rs sets both overrides.
override SPREAD: bool = true;
override TOTAL_GROUPS: u32 = 1u;

fn job_of(g: u32, first: u32) -> vec2<u32> {
    let total = TOTAL_GROUPS;
    if g >= total {
        return vec2<u32>(2u, 0u);
    }
    if !SPREAD {
        return select(vec2<u32>(1u, g - first), vec2<u32>(0u, g), g < first);
    }
    let before = (g * first) / total; // first-job workgroups before g
    if ((g + 1u) * first) / total > before {
        return vec2<u32>(0u, before);
    }
    return vec2<u32>(1u, g - before);
}
