// A convolution's forward pass fused with the pool after it. Appended to conv.wgsl (its
// overrides, buffers and fine_output_sum), after fused.wgsl (POOL, POOL_WINDOW). CPU twins:
// src/cpu/conv.rs, then src/cpu/pool.rs.
//
// When a pool's windows tile the convolution's output exactly (stride = window, no remainder),
// one invocation per pooled value computes its window's convolution outputs as
// conv_forward_fine does, stores them (the backward passes read them), and pools them as
// pool.wgsl does: the first maximum in row-major order and its index within the plane, or the
// sum of the row sums; then the pool's own activation, POOL_ACTIVATION. A training step fuses
// them on a GPU only (`Blocking::Fine`): on a software adapter, conv_forward's register blocks
// and then the pool ran faster than any fused kernel tried (see ARCHITECTURE.md).

override POOL_ACTIVATION: u32 = 0u;
@group(0) @binding(12) var<storage, read_write> pooled: array<f32>;
@group(0) @binding(13) var<storage, read_write> pool_argmax_out: array<u32>;

@compute @workgroup_size(WORKGROUP)
fn conv_forward_pool(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
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
