// Prepended to every shader in this directory (WGSL has no #include).

// One training (or evaluation) step's parameters, bound with a dynamic offset per step.
struct Step {
    batch_start: u32,        // position in the epoch's order of this step's first example
    count: u32,              // examples in this step; rows past it are padding
    slot: u32,               // where this step's loss and correct count go
    max_shift: u32,          // training images moved up to this many pixels (gather; 0: not)
    bias_correction1: f32,   // Adam: 1 - beta1^t
    bias_correction2: f32,   // Adam: 1 - beta2^t
    learning_rate: f32,      // the optimizer's rate for this update (a schedule's)
    weight_decay: f32,       // Adam: decoupled (AdamW); SGD: L2 added to the gradient
    shift_key: u32,          // the epoch's key the shifts are hashed from (gather.wgsl)
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

const WORKGROUP: u32 = 64u;

// Kernels are dispatched as a 2-D grid when one dimension would exceed 65,535 workgroups;
// this turns the grid position back into one linear index.
fn linear_id(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return gid.y * groups.x * WORKGROUP + gid.x;
}

// Activations, fused into the kernels around them: a kernel applies one to its own output
// (override ACTIVATION), and the next layer's backward kernel turns the gradient it writes into
// the gradient before that activation (override INPUT_ACTIVATION). Both are written with the
// activation's output y, so its input need not be kept. Codes as `Activation` in
// src/gpu/kernels.rs; CPU twin: src/cpu/activation.rs.
const IDENTITY: u32 = 0u;
const RELU: u32 = 1u;
const TANH: u32 = 2u;

fn activate(x: f32, activation: u32) -> f32 {
    switch activation {
        case RELU: { return max(x, 0.0); }
        case TANH: { return tanh_of(x); }
        default: { return x; }
    }
}

// tanh as the CPU computes it (`tanh` in src/cpu/activation.rs), rather than the driver's
// builtin, whose accuracy WGSL leaves loose (some compute it as sinh/cosh, which overflows):
// (1 - e)/(1 + e) with e = exp(-2|x|), and the Taylor series to x^7 below |x| = 1/8.
fn tanh_of(x: f32) -> f32 {
    let a = abs(x);
    if a < 0.125 {
        let x2 = x * x;
        return x * (1.0 + x2 * (-1.0 / 3.0 + x2 * (2.0 / 15.0 + x2 * (-17.0 / 315.0))));
    }
    let e = exp(-2.0 * a);
    return sign(x) * (1.0 - e) / (1.0 + e);
}

// The gradient before `activation`, from the gradient g after it and its output y.
fn through_activation(g: f32, y: f32, activation: u32) -> f32 {
    switch activation {
        case RELU: { return select(g, 0.0, y <= 0.0); }
        case TANH: { return g * (1.0 - y * y); }
        default: { return g; }
    }
}

// The optimizer's update of one parameter p with gradient g, PyTorch's semantics at the step's
// rate and weight decay: optimizer.wgsl's kernels, and the backward kernels that fuse the update
// (fused.wgsl), apply the same formula. CPU twin: src/cpu/optimizer.rs.
override MOMENTUM: f32 = 0.9;
override BETA1: f32 = 0.9;
override BETA2: f32 = 0.999;
override EPS: f32 = 1e-8;

// g += wd·p (L2, as PyTorch's SGD); v = μ·v + g; p −= lr·v. Returns (p, v).
fn sgd_update(p: f32, g_in: f32, v_in: f32, s: Step) -> vec2<f32> {
    var g = g_in;
    if s.weight_decay != 0.0 {
        g += s.weight_decay * p;
    }
    let v = MOMENTUM * v_in + g;
    return vec2<f32>(p - s.learning_rate * v, v);
}

// p ·= 1 − lr·wd (decoupled, as PyTorch's AdamW); m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²;
// p −= lr·(m/c1) / (√(v/c2) + ε). Returns (p, m, v).
fn adam_update(p_in: f32, g: f32, m_in: f32, v_in: f32, s: Step) -> vec3<f32> {
    let lr = s.learning_rate;
    var p = p_in;
    if s.weight_decay != 0.0 {
        p *= 1.0 - lr * s.weight_decay;
    }
    let m = BETA1 * m_in + (1.0 - BETA1) * g;
    let v = BETA2 * v_in + (1.0 - BETA2) * g * g;
    return vec3<f32>(p - lr * (m / s.bias_correction1) / (sqrt(v / s.bias_correction2) + EPS), m, v);
}

