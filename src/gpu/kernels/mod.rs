//! Compute pipelines built from `shaders/`, one constructor per kernel. Each constructor fixes
//! the kernel's shapes as WGSL override constants (so loops have constant bounds) and says which
//! buffers it binds, in order; the caller supplies exactly those buffers to `Kernel::bind`.
//! The same constructors serve the training scheduler and the one-shot ops the tests use.
//!
//! This file is the machinery every kernel shares (building a pipeline, binding, the grid, the
//! per-step uniform); the constructors live one file per shader, each beside its WGSL and named
//! as its CPU twin in `cpu/`.

mod activation;
mod blocking;
mod conv;
mod dense;
mod fused;
pub mod gather;
mod loss;
mod optimizer;
mod pool;

pub use activation::ACTIVATION;
pub use blocking::Blocking;
pub use conv::CONV;
pub use dense::DENSE;
pub use fused::{FusedPool, PoolFold};
pub use gather::GATHER;
pub use loss::LOSS;
pub use optimizer::OPTIMIZER;
pub use pool::POOL;

use super::context::Gpu;
use crate::data::augment::EpochShift;
use crate::model::optimizer::Optimizer;
use crate::model::schedule::UpdateRates;
use crate::{Error, Result};

/// Prepended to every shader: the step uniform, `linear_id`, and the fused activations.
const COMMON: &str = include_str!("../../../shaders/common.wgsl");

/// Threads per workgroup of every element-wise kernel (WORKGROUP in common.wgsl).
const WORKGROUP: u32 = 64;
/// The most workgroups one dimension of a dispatch may have (WebGPU's default limit).
const MAX_GROUPS: u32 = 65_535;

/// The activation a kernel fuses (`model::fusion`, where the rule for fusing lives).
pub use crate::model::fusion::Activation;

/// `activation`'s code in the shaders (IDENTITY, RELU, TANH in common.wgsl), as an override
/// constant.
fn code(activation: Activation) -> f64 {
    match activation {
        Activation::Identity => 0.0,
        Activation::Relu => 1.0,
        Activation::Tanh => 2.0,
    }
}

/// How a kernel uses a storage buffer it binds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    ReadWrite,
}

/// A compiled kernel: its pipeline, the layout of its storage bindings (group 0), and whether it
/// also reads the per-step uniform (group 1, bound with a dynamic offset).
#[derive(Clone)]
pub struct Kernel {
    pub name: String,
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
    bindings: Vec<u32>,
    uses_step: bool,
    grid: Grid,
}

/// How big a dispatch is.
#[derive(Clone, Copy, Debug)]
enum Grid {
    /// One invocation per item, e.g. per output element, in workgroups of 64.
    Threads(u32),
    /// One workgroup per item, e.g. per weight a workgroup reduces.
    Workgroups(u32),
}

/// A kernel bound to its buffers, ready to record.
#[derive(Clone)]
pub struct Dispatch {
    pub name: String,
    /// What it does in its network, e.g. "conv2 backward input" (for benchmarks).
    pub label: String,
    /// Floating-point operations one dispatch performs (0 where memory traffic is the work).
    pub flops: f64,
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    uses_step: bool,
    workgroups: [u32; 3],
}

/// The layout of the per-step uniform, shared by every kernel that reads it.
pub fn step_layout(gpu: &Gpu) -> wgpu::BindGroupLayout {
    gpu.device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some("step"),
        entries: &[wgpu::BindGroupLayoutEntry {
            binding: 0,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Uniform,
                has_dynamic_offset: true,
                min_binding_size: wgpu::BufferSize::new(STEP_SIZE),
            },
            count: None,
        }],
    })
}

/// A bind group that reads one `StepUniform` of `buffer`, at the dynamic offset given when it is
/// set (see `Dispatch::record`).
pub fn step_group(gpu: &Gpu, layout: &wgpu::BindGroupLayout, buffer: &wgpu::Buffer) -> wgpu::BindGroup {
    gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("step"),
        layout,
        entries: &[wgpu::BindGroupEntry {
            binding: 0,
            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer,
                offset: 0,
                size: wgpu::BufferSize::new(STEP_SIZE),
            }),
        }],
    })
}

/// Bytes of `StepUniform`: the `Step` struct of common.wgsl.
pub const STEP_SIZE: u64 = 48;

/// The `Step` struct of common.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct StepUniform {
    pub batch_start: u32,
    pub count: u32,
    pub slot: u32,
    /// The gather's shifts (`data::augment::EpochShift`): the largest (0: none) and the key.
    pub max_shift: u32,
    pub bias_correction1: f32,
    pub bias_correction2: f32,
    pub learning_rate: f32,
    pub weight_decay: f32,
    pub shift_key: u32,
    pub _pad: [u32; 3],
}

impl StepUniform {
    /// A step of `count` examples starting at `batch_start`, whose loss goes to `slot`, with
    /// `optimizer`'s bias corrections for update number `update` (counted from 1) and that
    /// update's learning rate and weight decay.
    pub fn new(
        batch_start: usize,
        count: usize,
        slot: usize,
        optimizer: &Optimizer,
        update: u64,
        rates: UpdateRates,
    ) -> Self {
        let (bias_correction1, bias_correction2) = optimizer.bias_corrections(update);
        StepUniform {
            batch_start: batch_start as u32,
            count: count as u32,
            slot: slot as u32,
            bias_correction1,
            bias_correction2,
            learning_rate: rates.lr,
            weight_decay: rates.weight_decay,
            ..Default::default()
        }
    }

    /// This step with its images shifted by `shift` (None: not shifted).
    pub fn shifted(self, shift: Option<EpochShift>) -> Self {
        let (max_shift, shift_key) = shift.map_or((0, 0), |s| (s.max_shift, s.key));
        StepUniform { max_shift, shift_key, ..self }
    }
}

/// Bytes packed four to a u32, little end first: how data sets live on the GPU (the gather
/// kernel unpacks them).
pub fn pack_bytes(bytes: &[u8]) -> Vec<u32> {
    bytes.chunks(4).map(|c| c.iter().rev().fold(0u32, |w, &b| (w << 8) | b as u32)).collect()
}

impl Grid {
    /// Workgroup counts, as a 2-D grid when one dimension would exceed the limit (`linear_id` in
    /// common.wgsl undoes it).
    fn workgroups(self) -> [u32; 3] {
        let groups = match self {
            Grid::Threads(n) => n.div_ceil(WORKGROUP),
            Grid::Workgroups(n) => n,
        }
        .max(1);
        if groups <= MAX_GROUPS { [groups, 1, 1] } else { [MAX_GROUPS, groups.div_ceil(MAX_GROUPS), 1] }
    }
}

/// The largest divisor of `dim` that is at most 8 (MAX_BLOCK in the shaders): how many channels
/// or kernel columns one invocation handles.
fn block(dim: usize) -> usize {
    block_at_most(dim, 8)
}

/// The largest divisor of `dim` that is at most `most`.
fn block_at_most(dim: usize, most: usize) -> usize {
    (1..=most.min(dim)).rev().find(|b| dim.is_multiple_of(*b)).unwrap_or(1)
}

struct KernelSpec<'a> {
    source: &'static str,
    entry: &'a str,
    constants: Vec<(&'a str, f64)>,
    bindings: &'a [(u32, Access)],
    uses_step: bool,
    /// Invocations, or with `per_workgroup`, workgroups.
    size: usize,
    per_workgroup: bool,
}

fn build(gpu: &Gpu, step_layout: &wgpu::BindGroupLayout, spec: KernelSpec) -> Result<Kernel> {
    let size = u32::try_from(spec.size)
        .map_err(|_| Error::gpu(format!("{}: a dispatch of {} is too large", spec.entry, spec.size)))?;
    // Natively a bad shader or pipeline is reported here, by popping an error scope (a blocking
    // wait). A page cannot wait: there the device's uncaptured-error handler records it, and
    // `Gpu::check_errors` reports it on the engine's next call (each `ensure_*` makes one).
    #[cfg(not(target_arch = "wasm32"))]
    let scope = gpu.device.push_error_scope(wgpu::ErrorFilter::Validation);
    let module = gpu.device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(spec.entry),
        source: wgpu::ShaderSource::Wgsl(format!("{COMMON}\n{}", spec.source).into()),
    });
    let entries: Vec<wgpu::BindGroupLayoutEntry> = spec
        .bindings
        .iter()
        .map(|&(binding, access)| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Storage { read_only: access == Access::Read },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        })
        .collect();
    let layout = gpu.device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some(spec.entry),
        entries: &entries,
    });
    let mut layouts = vec![Some(&layout)];
    if spec.uses_step {
        layouts.push(Some(step_layout));
    }
    let pipeline_layout = gpu.device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some(spec.entry),
        bind_group_layouts: &layouts,
        immediate_size: 0,
    });
    let pipeline = gpu.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(spec.entry),
        layout: Some(&pipeline_layout),
        module: &module,
        entry_point: Some(spec.entry),
        compilation_options: wgpu::PipelineCompilationOptions {
            constants: &spec.constants,
            zero_initialize_workgroup_memory: false,
        },
        cache: None,
    });
    #[cfg(not(target_arch = "wasm32"))]
    if let Some(e) = pollster::block_on(scope.pop()) {
        return Err(Error::gpu(format!("building kernel {}: {e}", spec.entry)));
    }
    Ok(Kernel {
        name: spec.entry.to_string(),
        pipeline,
        layout,
        bindings: spec.bindings.iter().map(|b| b.0).collect(),
        uses_step: spec.uses_step,
        grid: if spec.per_workgroup { Grid::Workgroups(size) } else { Grid::Threads(size) },
    })
}

impl Kernel {
    /// Binds `buffers`, one per binding in the order the constructor lists them.
    pub fn bind(&self, gpu: &Gpu, buffers: &[&wgpu::Buffer]) -> Dispatch {
        assert_eq!(buffers.len(), self.bindings.len(), "{}: wrong number of buffers", self.name);
        let entries: Vec<wgpu::BindGroupEntry> = self
            .bindings
            .iter()
            .zip(buffers)
            .map(|(&binding, buffer)| wgpu::BindGroupEntry { binding, resource: buffer.as_entire_binding() })
            .collect();
        let bind_group = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(&self.name),
            layout: &self.layout,
            entries: &entries,
        });
        Dispatch {
            name: self.name.clone(),
            label: self.name.clone(),
            flops: 0.0,
            pipeline: self.pipeline.clone(),
            bind_group,
            uses_step: self.uses_step,
            workgroups: self.grid.workgroups(),
        }
    }
}

impl Dispatch {
    /// Names the dispatch for benchmarks and gives its FLOP count.
    pub fn labelled(mut self, label: impl Into<String>, flops: f64) -> Self {
        self.label = label.into();
        self.flops = flops;
        self
    }

    /// Workgroups it launches (all dimensions together).
    pub fn workgroups(&self) -> u32 {
        self.workgroups.iter().product()
    }

    /// Records this dispatch; `step_offset` selects the step's uniform for kernels that read it.
    pub fn record(&self, pass: &mut wgpu::ComputePass, step: Option<(&wgpu::BindGroup, u32)>) {
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.bind_group, &[]);
        if self.uses_step {
            let (group, offset) = step.expect("a kernel that reads the step needs a step offset");
            pass.set_bind_group(1, group, &[offset]);
        }
        let [x, y, z] = self.workgroups;
        pass.dispatch_workgroups(x, y, z);
    }
}

/// Every kernel constructor, sharing the step layout.
pub struct Kernels<'g> {
    pub gpu: &'g Gpu,
    pub step_layout: wgpu::BindGroupLayout,
}

impl<'g> Kernels<'g> {
    pub fn new(gpu: &'g Gpu) -> Self {
        Kernels { gpu, step_layout: step_layout(gpu) }
    }

    fn build(&self, spec: KernelSpec) -> Result<Kernel> {
        build(self.gpu, &self.step_layout, spec)
    }

    fn blocking(&self) -> Blocking {
        self.gpu.blocking()
    }

    /// The FINE override constant of the kernels that take either split in one entry point.
    fn fine(&self) -> f64 {
        if self.blocking() == Blocking::Fine { 1.0 } else { 0.0 }
    }
}
