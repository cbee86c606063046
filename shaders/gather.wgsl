// Batch assembly: copies the examples a step uses from the data set, resident on the GPU as
// bytes (four pixels per u32), into the batch input as normalized f32. Rows past the step's
// count are zeroed. CPU twin: Dataset::gather_normalized (src/data/mod.rs).

override PIXELS: u32 = 784u;
override BATCH: u32 = 64u;
override MEAN: f32 = 0.1307;
override STD: f32 = 0.3081;

@group(0) @binding(0) var<storage, read> images: array<u32>;
@group(0) @binding(1) var<storage, read> labels: array<u32>;
@group(0) @binding(2) var<storage, read> order: array<u32>;
@group(0) @binding(3) var<storage, read_write> batch_input: array<f32>;
@group(0) @binding(4) var<storage, read_write> batch_labels: array<u32>;
@group(1) @binding(0) var<uniform> step: Step;

fn byte_at(words_index: u32) -> u32 {
    return (images[words_index / 4u] >> (8u * (words_index % 4u))) & 0xffu;
}

fn label_at(i: u32) -> u32 {
    return (labels[i / 4u] >> (8u * (i % 4u))) & 0xffu;
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
    batch_input[id] = (f32(byte_at(example * PIXELS + pixel)) / 255.0 - MEAN) / STD;
    if pixel == 0u {
        batch_labels[row] = label_at(example);
    }
}
