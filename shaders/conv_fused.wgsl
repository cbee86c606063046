// What a training step fuses for a convolution, appended to conv.wgsl and conv_params.wgsl
// (their overrides, buffers and sums), after fused.wgsl (the pool fold, the optimizer's update,
// job_of). CPU twins: src/cpu/conv.rs, src/cpu/pool.rs, src/cpu/optimizer.rs.

// ---- backward, both in one dispatch: the first workgroups the weight gradient, the rest the
// input gradient (THREADS values or blocks a workgroup; with a pool folded in, fused.wgsl) ----

@compute @workgroup_size(THREADS)
fn conv_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                 @builtin(local_invocation_index) t: u32) {
    let job = job_of(wid.y * groups.x + wid.x, params_groups());
    if job.x == 0u {
        let blk = params_block(job.y);
        params_sums(blk, t);
        if t == 0u {
            store_params(blk);
        }
        return;
    }
    let id = job.y * THREADS + t;
    if job.x != 1u {
        return;
    }
    if FINE {
        if id < BATCH * C * H * W {
            store_input_grad(id, fine_input_sum(id), input[id]);
        }
    } else if id < input_invocations() {
        store_input_block(input_block(id));
    }
}

// ---- backward of the first layer with parameters, and the optimizer's update (fused.wgsl) ----
// The first workgroups: the weight gradient, each block's parameters updated as they are
// stored; the rest: every other layer's parameters, each thread every UPDATE_THREADS-th.

@compute @workgroup_size(THREADS)
fn conv_backward_params_update(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                               @builtin(local_invocation_index) t: u32) {
    let job = job_of(wid.y * groups.x + wid.x, params_groups());
    if job.x == 1u {
        update_others(job.y * THREADS + t, OC * C * KH * KW, OC);
    }
    if job.x != 0u {
        return;
    }
    let blk = params_block(job.y);
    params_sums(blk, t);
    if t == 0u {
        store_params(blk);
        for (var a = 0u; a < OB; a++) {
            for (var b = 0u; b < KWB; b++) {
                update_param(weight_index(blk, a, b), partial[(a * KWB + b) * THREADS]);
            }
            if with_bias(blk) {
                update_param(B_OFF + blk.x + a, partial[(OB * KWB + a) * THREADS]);
            }
        }
    }
}

// ---- a convolution's forward pass fused with the pool after it ----
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
