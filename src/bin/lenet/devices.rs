//! `lenet devices`.

use anyhow::Result;
use lenet_gpu::session::list_adapters;

pub fn run() -> Result<()> {
    let adapters = list_adapters();
    if adapters.is_empty() {
        println!("wgpu found no adapters: `--device auto` will use the CPU path");
        return Ok(());
    }
    for a in &adapters {
        println!(
            "{}: {} ({:?}, {:?}){}",
            a.index,
            a.info.name,
            a.info.backend,
            a.info.device_type,
            if a.info.driver.is_empty() {
                String::new()
            } else {
                format!(", driver {} {}", a.info.driver, a.info.driver_info)
            }
        );
        println!(
            "   max storage binding {} MiB, max buffer {} MiB, {} invocations per workgroup, {} storage buffers per stage, timestamp queries: {}",
            a.limits.max_storage_buffer_binding_size >> 20,
            a.limits.max_buffer_size >> 20,
            a.limits.max_compute_invocations_per_workgroup,
            a.limits.max_storage_buffers_per_shader_stage,
            if a.timestamp_queries { "yes" } else { "no" }
        );
    }
    Ok(())
}
