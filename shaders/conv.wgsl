// 2-D convolution (cross-correlation, as PyTorch) with bias and an optional fused ReLU, and its
// backward passes. CPU twin: src/cpu/conv.rs (and src/cpu/activation.rs for the ReLU).
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
override RELU: bool = false;        // forward: apply ReLU to the output
override MASK_INPUT: bool = false;  // backward: the input came out of a ReLU; zero its gradient where it is 0
override W_OFF: u32 = 0u;
override B_OFF: u32 = 0u;

// Each entry point binds only the buffers it uses.
@group(0) @binding(0) var<storage, read> input: array<f32>;
@group(0) @binding(1) var<storage, read> params: array<f32>;
@group(0) @binding(2) var<storage, read_write> output: array<f32>;
@group(0) @binding(3) var<storage, read> d_output: array<f32>;
@group(0) @binding(4) var<storage, read_write> d_input: array<f32>;
@group(0) @binding(5) var<storage, read_write> grads: array<f32>;

// ---- forward: input, params → output ----

@compute @workgroup_size(64)
fn conv_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = linear_id(gid, groups);
    if id >= BATCH * OC * OH * OW {
        return;
    }
    let ox = id % OW;
    let oy = (id / OW) % OH;
    let o = (id / (OW * OH)) % OC;
    let n = id / (OW * OH * OC);
    var acc = params[B_OFF + o];
    for (var ch = 0u; ch < C; ch++) {
        let plane = (n * C + ch) * H * W;
        let wbase = W_OFF + (o * C + ch) * KH * KW;
        for (var ky = 0u; ky < KH; ky++) {
            let iy = i32(oy * STRIDE + ky) - i32(PAD);
            if iy < 0 || iy >= i32(H) {
                continue;
            }
            for (var kx = 0u; kx < KW; kx++) {
                let ix = i32(ox * STRIDE + kx) - i32(PAD);
                if ix < 0 || ix >= i32(W) {
                    continue;
                }
                acc += input[plane + u32(iy) * W + u32(ix)] * params[wbase + ky * KW + kx];
            }
        }
    }
    if RELU {
        acc = max(acc, 0.0);
    }
    output[id] = acc;
}

// ---- backward, input: d_output, params (and input, for the mask) → d_input ----

@compute @workgroup_size(64)
fn conv_backward_input(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
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
    let ch = (id / (W * H)) % C;
    let n = id / (W * H * C);
    var acc = 0.0;
    for (var ky = 0u; ky < KH; ky++) {
        // The output row whose window puts tap ky on input row iy, if any.
        let ty = i32(iy + PAD) - i32(ky);
        if ty < 0 || ty % i32(STRIDE) != 0 || ty / i32(STRIDE) >= i32(OH) {
            continue;
        }
        let oy = u32(ty) / STRIDE;
        for (var kx = 0u; kx < KW; kx++) {
            let tx = i32(ix + PAD) - i32(kx);
            if tx < 0 || tx % i32(STRIDE) != 0 || tx / i32(STRIDE) >= i32(OW) {
                continue;
            }
            let ox = u32(tx) / STRIDE;
            for (var o = 0u; o < OC; o++) {
                acc += d_output[((n * OC + o) * OH + oy) * OW + ox] * params[W_OFF + ((o * C + ch) * KH + ky) * KW + kx];
            }
        }
    }
    d_input[id] = acc;
}

// ---- backward, weights and bias: input, d_output → grads ----
// One invocation per weight, then one per bias: each sums over the batch and every position.

@compute @workgroup_size(64)
fn conv_backward_params(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = linear_id(gid, groups);
    let weights = OC * C * KH * KW;
    if id >= weights + OC {
        return;
    }
    if id >= weights {
        let o = id - weights;
        var acc = 0.0;
        for (var n = 0u; n < BATCH; n++) {
            let base = (n * OC + o) * OH * OW;
            for (var p = 0u; p < OH * OW; p++) {
                acc += d_output[base + p];
            }
        }
        grads[B_OFF + o] = acc;
        return;
    }
    let kx = id % KW;
    let ky = (id / KW) % KH;
    let ch = (id / (KW * KH)) % C;
    let o = id / (KW * KH * C);
    var acc = 0.0;
    for (var n = 0u; n < BATCH; n++) {
        let plane = (n * C + ch) * H * W;
        let d_base = (n * OC + o) * OH * OW;
        for (var oy = 0u; oy < OH; oy++) {
            let iy = i32(oy * STRIDE + ky) - i32(PAD);
            if iy < 0 || iy >= i32(H) {
                continue;
            }
            for (var ox = 0u; ox < OW; ox++) {
                let ix = i32(ox * STRIDE + kx) - i32(PAD);
                if ix < 0 || ix >= i32(W) {
                    continue;
                }
                acc += d_output[d_base + oy * OW + ox] * input[plane + u32(iy) * W + u32(ix)];
            }
        }
    }
    grads[W_OFF + id] = acc;
}
