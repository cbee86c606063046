//! Times each GPU kernel of a LeNet-5 training step at batch 64: 20 dispatches of it in one
//! submission, wall time around the submission. A development tool for choosing kernel variants.

use lenet_gpu::cpu::conv::ConvShape;
use lenet_gpu::cpu::dense::DenseShape;
use lenet_gpu::cpu::optimizer::Optimizer;
use lenet_gpu::cpu::pool::PoolShape;
use lenet_gpu::gpu::kernels::{Kernel, Kernels};
use lenet_gpu::gpu::{DeviceChoice, Gpu};
use std::time::Instant;

fn main() {
    let gpu = Gpu::open(DeviceChoice::Gpu).unwrap().expect("a GPU adapter");
    println!("{}", gpu.name());
    let k = Kernels::new(&gpu);
    let b = 64;
    let big = |n: usize| {
        let data: Vec<f32> = (0..n).map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5).collect();
        gpu.create_buffer_init(
            "x",
            bytemuck::cast_slice(&data),
            wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        )
    };
    let conv1 = ConvShape {
        batch: b,
        in_channels: 1,
        in_h: 28,
        in_w: 28,
        out_channels: 6,
        kernel_h: 5,
        kernel_w: 5,
        stride: 1,
        padding: 2,
    };
    let conv2 = ConvShape {
        batch: b,
        in_channels: 6,
        in_h: 14,
        in_w: 14,
        out_channels: 16,
        kernel_h: 5,
        kernel_w: 5,
        stride: 1,
        padding: 0,
    };
    let pool1 = PoolShape { batch: b, channels: 6, in_h: 28, in_w: 28, window: 2, stride: 2 };
    let fc1 = DenseShape { batch: b, in_features: 400, out_features: 120 };
    let m = 1 << 20;
    let (x, p, y, dy, dx, g, a) = (big(m), big(m), big(m), big(m), big(m), big(m), big(m));
    let macs = |s: &ConvShape| (s.batch * s.output_len() * s.patch_len()) as f64;
    let cases: Vec<(&str, Kernel, Vec<&wgpu::Buffer>, f64)> = vec![
        ("conv1 forward", k.conv_forward(&conv1, true, 0, 150).unwrap(), vec![&x, &p, &y], macs(&conv1)),
        (
            "conv1 backward params",
            k.conv_backward_params(&conv1, 0, 150).unwrap(),
            vec![&x, &dy, &g],
            macs(&conv1),
        ),
        ("conv2 forward", k.conv_forward(&conv2, true, 0, 2400).unwrap(), vec![&x, &p, &y], macs(&conv2)),
        (
            "conv2 backward input",
            k.conv_backward_input(&conv2, true, 0).unwrap(),
            vec![&x, &p, &dy, &dx],
            macs(&conv2),
        ),
        (
            "conv2 backward params",
            k.conv_backward_params(&conv2, 0, 2400).unwrap(),
            vec![&x, &dy, &g],
            macs(&conv2),
        ),
        ("pool1 forward", k.maxpool_forward(&pool1, true).unwrap(), vec![&x, &y, &a], 0.0),
        ("fc1 forward", k.dense_forward(&fc1, true, 0, 48000).unwrap(), vec![&x, &p, &y], 64.0 * 48000.0),
        (
            "fc1 backward input",
            k.dense_backward_input(&fc1, true, 0).unwrap(),
            vec![&x, &p, &dy, &dx],
            64.0 * 48000.0,
        ),
        (
            "fc1 backward params",
            k.dense_backward_params(&fc1, 0, 48000).unwrap(),
            vec![&x, &dy, &g],
            64.0 * 48000.0,
        ),
        ("pool1 backward", k.maxpool_backward(&pool1, true).unwrap(), vec![&x, &dy, &a, &dx], 0.0),
        ("gather", k.gather(784, 64).unwrap(), vec![&x, &p, &a, &dx, &y], 0.0),
        (
            "sgd step",
            k.optimizer_step(&Optimizer::Sgd { lr: 0.01, momentum: 0.9 }, 61706).unwrap(),
            vec![&p, &g, &a],
            0.0,
        ),
    ];
    whole_steps();
    let uniform = lenet_gpu::gpu::kernels::StepUniform { count: 64, ..Default::default() };
    let ubuf = gpu.create_buffer_init("step", bytemuck::bytes_of(&uniform), wgpu::BufferUsages::UNIFORM);
    let group = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: None,
        layout: &k.step_layout,
        entries: &[wgpu::BindGroupEntry { binding: 0, resource: ubuf.as_entire_binding() }],
    });
    let step = Some((group, ()));
    for (name, kernel, buffers, mac) in cases {
        let d = kernel.bind(&gpu, &buffers);
        let reps = 20;
        let mut best = f64::MAX;
        for _ in 0..3 {
            let mut enc = gpu.device.create_command_encoder(&Default::default());
            {
                let mut pass = enc.begin_compute_pass(&Default::default());
                for _ in 0..reps {
                    d.record(&mut pass, step.as_ref().map(|(g, _)| (g, 0)));
                }
            }
            let t = Instant::now();
            gpu.submit(enc.finish());
            gpu.wait().unwrap();
            best = best.min(t.elapsed().as_secs_f64() / reps as f64);
        }
        println!("{name:<24} {:>9.1} µs  {:>6.2} GFLOP/s", best * 1e6, 2.0 * mac / best / 1e9);
    }
}

/// Wall time per training step of the whole engine, over a 20-step epoch after a warm-up one.
fn whole_steps() {
    use lenet_gpu::train::Engine;
    let gpu = Gpu::open(DeviceChoice::Gpu).unwrap().unwrap();
    let plan = lenet_gpu::model::Network::lenet5().plan().unwrap();
    let params = lenet_gpu::model::Parameters::init(&plan, 1);
    let mut engine = lenet_gpu::gpu::engine::GpuEngine::new(
        gpu,
        plan,
        &params,
        Optimizer::Sgd { lr: 0.01, momentum: 0.9 },
    )
    .unwrap();
    let data = lenet_gpu::data::synthetic::generate(64 * 20, 0, 1).train;
    let order: Vec<u32> = (0..data.len() as u32).collect();
    engine.train_epoch(&data, &order, 64, &mut |_| {}).unwrap();
    let t = Instant::now();
    engine.train_epoch(&data, &order, 64, &mut |_| {}).unwrap();
    println!("whole training step          {:>9.1} µs", t.elapsed().as_secs_f64() / 20.0 * 1e6);
}
