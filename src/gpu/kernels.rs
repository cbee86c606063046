//! Compute pipelines built from `shaders/`, one constructor per kernel. Each constructor fixes
//! the kernel's shapes as WGSL override constants (so loops have constant bounds) and says which
//! buffers it binds, in order; the caller supplies exactly those buffers to `Kernel::bind`.
//! The same constructors serve the training scheduler and the one-shot ops the tests use.

use super::context::Gpu;
use crate::model::optimizer::Optimizer;
use crate::model::shapes::{ConvShape, DenseShape, PoolShape};
use crate::{Error, Result};

const COMMON: &str = include_str!("../../shaders/common.wgsl");
pub const GATHER: &str = include_str!("../../shaders/gather.wgsl");
pub const CONV: &str = include_str!("../../shaders/conv.wgsl");
pub const POOL: &str = include_str!("../../shaders/pool.wgsl");
pub const ACTIVATION: &str = include_str!("../../shaders/activation.wgsl");
pub const DENSE: &str = include_str!("../../shaders/dense.wgsl");
pub const LOSS: &str = include_str!("../../shaders/loss.wgsl");
pub const OPTIMIZER: &str = include_str!("../../shaders/optimizer.wgsl");

/// Columns each conv forward or input-gradient invocation computes (COLS in conv.wgsl).
const CONV_COLS: usize = 4;
/// The side of the block each dense-kernel invocation computes (TILE in dense.wgsl).
const DENSE_TILE: usize = 4;
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

/// Bytes of `StepUniform`: the `Step` struct of common.wgsl (24 bytes) padded to 32.
pub const STEP_SIZE: u64 = 32;

/// The `Step` struct of common.wgsl, padded.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct StepUniform {
    pub batch_start: u32,
    pub count: u32,
    pub slot: u32,
    pub _pad: u32,
    pub bias_correction1: f32,
    pub bias_correction2: f32,
    pub _pad2: [u32; 2],
}

impl StepUniform {
    /// A step of `count` examples starting at `batch_start`, whose loss goes to `slot`, with
    /// `optimizer`'s bias corrections for update number `update`.
    pub fn new(batch_start: usize, count: usize, slot: usize, optimizer: &Optimizer, update: u64) -> Self {
        let (bias_correction1, bias_correction2) = optimizer.bias_corrections(update);
        StepUniform {
            batch_start: batch_start as u32,
            count: count as u32,
            slot: slot as u32,
            bias_correction1,
            bias_correction2,
            ..Default::default()
        }
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
        .map_err(|_| Error::Gpu(format!("{}: a dispatch of {} is too large", spec.entry, spec.size)))?;
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
    if let Some(e) = pollster::block_on(scope.pop()) {
        return Err(Error::Gpu(format!("building kernel {}: {e}", spec.entry)));
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

use Access::{Read, ReadWrite};

fn conv_constants(s: &ConvShape) -> Vec<(&'static str, f64)> {
    vec![
        ("BATCH", s.batch as f64),
        ("C", s.in_channels as f64),
        ("H", s.in_h as f64),
        ("W", s.in_w as f64),
        ("OC", s.out_channels as f64),
        ("OH", s.out_h() as f64),
        ("OW", s.out_w() as f64),
        ("KH", s.kernel_h as f64),
        ("KW", s.kernel_w as f64),
        ("STRIDE", s.stride as f64),
        ("PAD", s.padding as f64),
    ]
}

fn pool_constants(s: &PoolShape) -> Vec<(&'static str, f64)> {
    vec![
        ("BATCH", s.batch as f64),
        ("C", s.channels as f64),
        ("H", s.in_h as f64),
        ("W", s.in_w as f64),
        ("OH", s.out_h() as f64),
        ("OW", s.out_w() as f64),
        ("WINDOW", s.window as f64),
        ("STRIDE", s.stride as f64),
    ]
}

fn dense_constants(s: &DenseShape) -> Vec<(&'static str, f64)> {
    vec![("BATCH", s.batch as f64), ("IN", s.in_features as f64), ("OUT", s.out_features as f64)]
}

impl<'g> Kernels<'g> {
    pub fn new(gpu: &'g Gpu) -> Self {
        Kernels { gpu, step_layout: step_layout(gpu) }
    }

    fn build(&self, spec: KernelSpec) -> Result<Kernel> {
        build(self.gpu, &self.step_layout, spec)
    }

    /// Buffers: images (bytes packed in u32), labels (likewise), order, batch input, batch labels.
    pub fn gather(&self, pixels: usize, batch: usize) -> Result<Kernel> {
        self.build(KernelSpec {
            source: GATHER,
            entry: "gather",
            constants: vec![
                ("PIXELS", pixels as f64),
                ("BATCH", batch as f64),
                ("MEAN", crate::data::MEAN as f64),
                ("STD", crate::data::STD as f64),
            ],
            bindings: &[(0, Read), (1, Read), (2, Read), (3, ReadWrite), (4, ReadWrite)],
            uses_step: true,
            size: batch * pixels,
            per_workgroup: false,
        })
    }

    /// Buffers: input, params, output. Weight at `w_off`, bias at `b_off` in params.
    pub fn conv_forward(
        &self,
        s: &ConvShape,
        activation: Activation,
        w_off: usize,
        b_off: usize,
    ) -> Result<Kernel> {
        let ocb = block(s.out_channels);
        let mut constants = conv_constants(s);
        constants.extend([
            ("ACTIVATION", code(activation)),
            ("W_OFF", w_off as f64),
            ("B_OFF", b_off as f64),
            ("OCB", ocb as f64),
        ]);
        self.build(KernelSpec {
            source: CONV,
            entry: "conv_forward",
            constants,
            bindings: &[(0, Read), (1, Read), (2, ReadWrite)],
            uses_step: false,
            size: s.batch * (s.out_channels / ocb) * s.out_h() * s.out_w().div_ceil(CONV_COLS),
            per_workgroup: false,
        })
    }

    /// Buffers: input (for its activation), params, d_output, d_input.
    pub fn conv_backward_input(
        &self,
        s: &ConvShape,
        input_activation: Activation,
        w_off: usize,
    ) -> Result<Kernel> {
        let cb = block(s.in_channels);
        let mut constants = conv_constants(s);
        constants.extend([
            ("INPUT_ACTIVATION", code(input_activation)),
            ("W_OFF", w_off as f64),
            ("CB", cb as f64),
        ]);
        self.build(KernelSpec {
            source: CONV,
            entry: "conv_backward_input",
            constants,
            bindings: &[(0, Read), (1, Read), (3, Read), (4, ReadWrite)],
            uses_step: false,
            size: s.batch * (s.in_channels / cb) * s.in_h * s.in_w.div_ceil(CONV_COLS),
            per_workgroup: false,
        })
    }

    /// Buffers: input, d_output, grads. Weight gradient at `w_off`, bias gradient at `b_off`.
    pub fn conv_backward_params(&self, s: &ConvShape, w_off: usize, b_off: usize) -> Result<Kernel> {
        let (kwb, ob) = (block(s.kernel_w), block_at_most(s.out_channels, 4));
        let mut constants = conv_constants(s);
        constants.extend([
            ("W_OFF", w_off as f64),
            ("B_OFF", b_off as f64),
            ("KWB", kwb as f64),
            ("OB", ob as f64),
        ]);
        self.build(KernelSpec {
            source: CONV,
            entry: "conv_backward_params",
            constants,
            bindings: &[(0, Read), (3, Read), (5, ReadWrite)],
            uses_step: false,
            // One workgroup per (output channel block, input channel, kernel row, column block).
            size: s.weight_len() / kwb / ob,
            per_workgroup: true,
        })
    }

    /// Buffers: input, output, argmax.
    pub fn maxpool_forward(&self, s: &PoolShape, activation: Activation) -> Result<Kernel> {
        let mut constants = pool_constants(s);
        constants.push(("ACTIVATION", code(activation)));
        self.build(KernelSpec {
            source: POOL,
            entry: "maxpool_forward",
            constants,
            bindings: &[(0, Read), (1, ReadWrite), (2, ReadWrite)],
            uses_step: false,
            size: s.batch * s.output_len(),
            per_workgroup: false,
        })
    }

    /// Buffers: input (for its activation), d_output, argmax, d_input.
    pub fn maxpool_backward(&self, s: &PoolShape, input_activation: Activation) -> Result<Kernel> {
        let mut constants = pool_constants(s);
        constants.push(("INPUT_ACTIVATION", code(input_activation)));
        self.build(KernelSpec {
            source: POOL,
            entry: "maxpool_backward",
            constants,
            bindings: &[(0, Read), (3, Read), (4, Read), (5, ReadWrite)],
            uses_step: false,
            size: s.batch * s.input_len(),
            per_workgroup: false,
        })
    }

    /// Buffers: input, output.
    pub fn avgpool_forward(&self, s: &PoolShape, activation: Activation) -> Result<Kernel> {
        let mut constants = pool_constants(s);
        constants.push(("ACTIVATION", code(activation)));
        self.build(KernelSpec {
            source: POOL,
            entry: "avgpool_forward",
            constants,
            bindings: &[(0, Read), (1, ReadWrite)],
            uses_step: false,
            size: s.batch * s.output_len(),
            per_workgroup: false,
        })
    }

    /// Buffers: input (for its activation), d_output, d_input.
    pub fn avgpool_backward(&self, s: &PoolShape, input_activation: Activation) -> Result<Kernel> {
        let mut constants = pool_constants(s);
        constants.push(("INPUT_ACTIVATION", code(input_activation)));
        self.build(KernelSpec {
            source: POOL,
            entry: "avgpool_backward",
            constants,
            bindings: &[(0, Read), (3, Read), (5, ReadWrite)],
            uses_step: false,
            size: s.batch * s.input_len(),
            per_workgroup: false,
        })
    }

    /// Buffers: input, output.
    pub fn activation_forward(&self, activation: Activation, len: usize) -> Result<Kernel> {
        self.build(KernelSpec {
            source: ACTIVATION,
            entry: "activation_forward",
            constants: vec![("LEN", len as f64), ("ACTIVATION", code(activation))],
            bindings: &[(0, Read), (1, ReadWrite)],
            uses_step: false,
            size: len,
            per_workgroup: false,
        })
    }

    /// Buffers: input (for its activation), d_output, d_input.
    pub fn activation_backward(&self, input_activation: Activation, len: usize) -> Result<Kernel> {
        self.build(KernelSpec {
            source: ACTIVATION,
            entry: "activation_backward",
            constants: vec![("LEN", len as f64), ("INPUT_ACTIVATION", code(input_activation))],
            bindings: &[(0, Read), (2, Read), (3, ReadWrite)],
            uses_step: false,
            size: len,
            per_workgroup: false,
        })
    }

    /// Buffers: input, params, output.
    pub fn dense_forward(
        &self,
        s: &DenseShape,
        activation: Activation,
        w_off: usize,
        b_off: usize,
    ) -> Result<Kernel> {
        let mut constants = dense_constants(s);
        constants.extend([
            ("ACTIVATION", code(activation)),
            ("W_OFF", w_off as f64),
            ("B_OFF", b_off as f64),
        ]);
        self.build(KernelSpec {
            source: DENSE,
            entry: "dense_forward",
            constants,
            bindings: &[(0, Read), (1, Read), (2, ReadWrite)],
            uses_step: false,
            size: s.batch.div_ceil(DENSE_TILE) * s.out_features.div_ceil(DENSE_TILE),
            per_workgroup: false,
        })
    }

    /// Buffers: input (for its activation), params, d_output, d_input.
    pub fn dense_backward_input(
        &self,
        s: &DenseShape,
        input_activation: Activation,
        w_off: usize,
    ) -> Result<Kernel> {
        let mut constants = dense_constants(s);
        constants.extend([("INPUT_ACTIVATION", code(input_activation)), ("W_OFF", w_off as f64)]);
        self.build(KernelSpec {
            source: DENSE,
            entry: "dense_backward_input",
            constants,
            bindings: &[(0, Read), (1, Read), (3, Read), (4, ReadWrite)],
            uses_step: false,
            size: s.batch.div_ceil(DENSE_TILE) * s.in_features.div_ceil(DENSE_TILE),
            per_workgroup: false,
        })
    }

    /// Buffers: input, d_output, grads.
    pub fn dense_backward_params(&self, s: &DenseShape, w_off: usize, b_off: usize) -> Result<Kernel> {
        let mut constants = dense_constants(s);
        constants.extend([("W_OFF", w_off as f64), ("B_OFF", b_off as f64)]);
        self.build(KernelSpec {
            source: DENSE,
            entry: "dense_backward_params",
            constants,
            bindings: &[(0, Read), (3, Read), (5, ReadWrite)],
            uses_step: false,
            size: s.out_features.div_ceil(DENSE_TILE) * s.in_features.div_ceil(DENSE_TILE),
            per_workgroup: false,
        })
    }

    /// Buffers: logits, labels, d_logits, stats. One workgroup. `logits_activation`: the
    /// activation the logits came out of (a network may end in one), which the gradient it
    /// writes is taken back through.
    pub fn softmax_cross_entropy(
        &self,
        batch: usize,
        classes: usize,
        logits_activation: Activation,
    ) -> Result<Kernel> {
        self.build(KernelSpec {
            source: LOSS,
            entry: "softmax_cross_entropy",
            constants: vec![
                ("BATCH", batch as f64),
                ("CLASSES", classes as f64),
                ("LOGITS_ACTIVATION", code(logits_activation)),
            ],
            bindings: &[(0, Read), (1, Read), (2, ReadWrite), (3, ReadWrite)],
            uses_step: true,
            size: 1,
            per_workgroup: true,
        })
    }

    /// Buffers: logits, predictions.
    pub fn predict(&self, batch: usize, classes: usize) -> Result<Kernel> {
        self.build(KernelSpec {
            source: LOSS,
            entry: "predict",
            constants: vec![("BATCH", batch as f64), ("CLASSES", classes as f64)],
            bindings: &[(0, Read), (4, ReadWrite)],
            uses_step: true,
            size: batch,
            per_workgroup: false,
        })
    }

    /// Buffers: params, grads, first moment (SGD velocity), second moment (Adam only).
    pub fn optimizer_step(&self, optimizer: &Optimizer, len: usize) -> Result<Kernel> {
        let (entry, mut constants, bindings): (_, _, &[(u32, Access)]) = match *optimizer {
            Optimizer::Sgd { lr, momentum } => (
                "sgd_step",
                vec![("LR", lr as f64), ("MOMENTUM", momentum as f64)],
                &[(0, ReadWrite), (1, Read), (2, ReadWrite)],
            ),
            Optimizer::Adam { lr, beta1, beta2, eps } => (
                "adam_step",
                vec![
                    ("LR", lr as f64),
                    ("BETA1", beta1 as f64),
                    ("BETA2", beta2 as f64),
                    ("EPS", eps as f64),
                ],
                &[(0, ReadWrite), (1, Read), (2, ReadWrite), (3, ReadWrite)],
            ),
        };
        constants.push(("LEN", len as f64));
        self.build(KernelSpec {
            source: OPTIMIZER,
            entry,
            constants,
            bindings,
            uses_step: matches!(optimizer, Optimizer::Adam { .. }),
            size: len,
            per_workgroup: false,
        })
    }
}
