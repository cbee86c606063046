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
