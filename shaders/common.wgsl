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
