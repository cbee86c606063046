// Prepended to every shader in this directory (WGSL has no #include).

// One training (or evaluation) step's parameters, bound with a dynamic offset per step.
struct Step {
    batch_start: u32,        // position in the epoch's order of this step's first example
    count: u32,              // examples in this step; rows past it are padding
    slot: u32,               // where this step's loss and correct count go
    _pad: u32,
    bias_correction1: f32,   // Adam: 1 - beta1^t
    bias_correction2: f32,   // Adam: 1 - beta2^t
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
        // tanh(±10) is ±1 in f32 already; the clamp keeps drivers that compute tanh through
        // exponentials from overflowing to inf/inf.
        case TANH: { return tanh(clamp(x, -10.0, 10.0)); }
        default: { return x; }
    }
}

// The gradient before `activation`, from the gradient g after it and its output y.
fn through_activation(g: f32, y: f32, activation: u32) -> f32 {
    switch activation {
        case RELU: { return select(g, 0.0, y <= 0.0); }
        case TANH: { return g * (1.0 - y * y); }
        default: { return g; }
    }
}
