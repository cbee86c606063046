// Batch assembly: copies the examples a step uses from the data set, resident on the GPU as
// bytes (four pixels per u32), into the batch input as normalized f32, each channel with its own
// mean and std (looked up in `levels`). Rows past the step's count are zeroed. A data set over one binding's limit
// (CIFAR-10's 146 MiB against WebGPU's 128) is split in two at an example: examples from SPLIT
// on are in images_high. With the step's max_shift > 0 each image is moved by its shift (zero
// fill, on the bytes, each channel plane alike): see shift_of. CPU twin:
// Dataset::gather_normalized (src/data/mod.rs), and Dataset::gather_shifted
// (src/data/augment.rs) with a shift.

override PIXELS: u32 = 784u;
override PLANE: u32 = 784u; // pixels of one channel: ROWS x COLS
override ROWS: u32 = 28u;
override COLS: u32 = 28u;
override BATCH: u32 = 64u;
override SPLIT: u32 = 4294967295u;

@group(0) @binding(0) var<storage, read> images: array<u32>;
@group(0) @binding(1) var<storage, read> labels: array<u32>;
@group(0) @binding(2) var<storage, read> order: array<u32>;
@group(0) @binding(3) var<storage, read_write> batch_input: array<f32>;
@group(0) @binding(4) var<storage, read_write> batch_labels: array<u32>;
@group(0) @binding(5) var<storage, read> images_high: array<u32>;
// Each byte's normalized value per channel (channel c's at c * 256 + byte), computed by the CPU
// (`Normalization::levels`): a lookup, not a division, so the batch equals the CPU's bit for bit
// on any device (a driver may compile x / c as x * (1 / c)).
@group(0) @binding(6) var<storage, read> levels: array<f32>;
@group(1) @binding(0) var<uniform> step: Step;

fn byte_at(example: u32, pixel: u32) -> u32 {
    if example < SPLIT {
        let i = example * PIXELS + pixel;
        return (images[i / 4u] >> (8u * (i % 4u))) & 0xffu;
    }
    let i = (example - SPLIT) * PIXELS + pixel;
    return (images_high[i / 4u] >> (8u * (i % 4u))) & 0xffu;
}

fn label_at(i: u32) -> u32 {
    return (labels[i / 4u] >> (8u * (i % 4u))) & 0xffu;
}

// --- Augmentation: the same u32 operations as src/data/augment.rs (lowbias32, offset). ---

fn lowbias32(v: u32) -> u32 {
    var x = v;
    x ^= x >> 16u;
    x *= 0x7feb352du;
    x ^= x >> 15u;
    x *= 0x846ca68bu;
    return x ^ (x >> 16u);
}

// The shift (dx right, dy down) of the image at `position` in the epoch's order.
fn shift_of(position: u32) -> vec2<i32> {
    let h = lowbias32(position ^ step.shift_key);
    let span = 2u * step.max_shift + 1u;
    let d = vec2<u32>(((h & 0xffffu) * span) >> 16u, ((h >> 16u) * span) >> 16u);
    return vec2<i32>(d) - vec2<i32>(i32(step.max_shift));
}

// Where `pixel` of an image moved by `shift` comes from in the unmoved image (each channel plane
// alike), or -1 where it comes from outside (zero fill).
fn shifted_source(pixel: u32, shift: vec2<i32>) -> i32 {
    let plane = pixel / (ROWS * COLS);
    let within = pixel % (ROWS * COLS);
    let x = i32(within % COLS) - shift.x;
    let y = i32(within / COLS) - shift.y;
    if x < 0 || x >= i32(COLS) || y < 0 || y >= i32(ROWS) {
        return -1;
    }
    return i32(plane * ROWS * COLS) + y * i32(COLS) + x;
}

@compute @workgroup_size(WORKGROUP)
fn gather(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = linear_id(gid, groups);
    if id >= BATCH * PIXELS {
        return;
    }
    let row = id / PIXELS;
    let pixel = id % PIXELS;
    if row >= step.count {
        batch_input[id] = 0.0;
        if pixel == 0u {
            batch_labels[row] = 0u;
        }
        return;
    }
    let example = order[step.batch_start + row];
    var byte = 0u;
    if step.max_shift == 0u {
        byte = byte_at(example, pixel);
    } else {
        let source = shifted_source(pixel, shift_of(step.batch_start + row));
        if source >= 0 {
            byte = byte_at(example, u32(source));
        }
    }
    batch_input[id] = levels[(pixel / PLANE) * 256u + byte];
    if pixel == 0u {
        batch_labels[row] = label_at(example);
    }
}
