//! The chunked training step (`cpu::chunked`: a chunk of images at a time through the whole
//! network, ReLU + max-pool fused) against the layer-by-layer one (`cpu::network`) and against
//! finite differences, on networks that exercise every layer kind and the fused pair.

use super::{assert_close, random};
use crate::common::gradcheck::check_gradient_away_from_kinks;
use lenet_gpu::cpu::chunked::ChunkedNetwork;
use lenet_gpu::cpu::network::{Workspace, forward, forward_backward};
use lenet_gpu::model::{Layer, Network, Parameters, Shape};
use lenet_gpu::rng::Rng;

/// Every layer kind; a ReLU + max-pool pair after a conv and one as the very first layers.
fn networks() -> Vec<Network> {
    vec![
        Network::lenet5(),
        Network::lenet5_1998(),
        Network {
            input: Shape::new(2, 9, 8),
            layers: vec![
                Layer::Relu,
                Layer::MaxPool { window: 2, stride: 1 },
                Layer::conv(3, 3, 2, 1),
                Layer::Relu,
                Layer::MaxPool { window: 2, stride: 2 },
                Layer::conv(8, 2, 1, 1),
                Layer::Relu,
                Layer::Dense { out_features: 5 },
                Layer::Tanh,
                Layer::Dense { out_features: 3 },
            ],
        },
    ]
}

/// A step's gradient, summed loss and logits.
type Step = (Vec<f32>, f32, Vec<f32>);

/// (layer-by-layer, chunked) gradient, loss and logits of `network` on `n` random examples.
fn both_paths(network: &Network, n: usize, seed: u64) -> (Step, Step) {
    let plan = network.plan().unwrap();
    let params = Parameters::init(&plan, seed);
    let mut rng = Rng::new(seed + 100);
    let input = random(n * plan.input().len(), &mut rng);
    let labels: Vec<u32> = (0..n).map(|_| rng.below(plan.classes()) as u32).collect();
    let mut ws = Workspace::new(&plan, n);
    let mut g_layers = vec![0.0; plan.parameter_count];
    let loss_layers = forward_backward(&plan, &params.values, &input, &labels, &mut ws, &mut g_layers);
    let logits_layers = forward(&plan, &params.values, &input, n, &mut ws).to_vec();
    let mut chunked = ChunkedNetwork::new(plan.clone());
    let mut g_chunked = vec![f32::NAN; plan.parameter_count];
    let loss_chunked = chunked.forward_backward(&params.values, &input, &labels, &mut g_chunked);
    let mut logits_chunked = vec![f32::NAN; n * plan.classes()];
    chunked.forward(&params.values, &input, n, &mut logits_chunked);
    assert_eq!(loss_layers.correct, loss_chunked.correct, "{network}: correct count");
    ((g_layers, loss_layers.loss_sum, logits_layers), (g_chunked, loss_chunked.loss_sum, logits_chunked))
}

#[test]
fn chunked_step_gives_the_layer_by_layer_gradient_loss_and_logits() {
    // 1, 8, 19 (a partial last chunk), 200 (2 chunks of 16 per group, 7 groups, the last partial).
    for network in networks() {
        for n in [1, 8, 19, 200] {
            let ((g, loss, logits), (gc, loss_c, logits_c)) = both_paths(&network, n, 3);
            let what = format!("{network}, batch {n}");
            // Only the order of the sums over images differs.
            assert_close(&gc, &g, 1e-5, &format!("{what}: gradient"));
            assert_close(&[loss_c / n as f32], &[loss / n as f32], 1e-5, &format!("{what}: loss"));
            assert_close(&logits_c, &logits, 1e-5, &format!("{what}: logits"));
        }
    }
}

#[test]
fn chunked_gradient_matches_finite_differences() {
    // The last network: every layer kind, the fused pair twice, strides and padding.
    let network = networks().pop().unwrap();
    let plan = network.plan().unwrap();
    let params = Parameters::init(&plan, 5);
    let mut rng = Rng::new(71);
    let n = 11;
    let input = random(n * plan.input().len(), &mut rng);
    let labels: Vec<u32> = (0..n).map(|_| rng.below(3) as u32).collect();
    let mut grads = vec![0.0; plan.parameter_count];
    ChunkedNetwork::new(plan.clone()).forward_backward(&params.values, &input, &labels, &mut grads);
    // The loss, and where its kinks are, from the layer-by-layer pass (the same function).
    let loss = |p: &[f32]| {
        let mut ws = Workspace::new(&plan, n);
        let mut g = vec![0.0; p.len()];
        let loss = forward_backward(&plan, p, &input, &labels, &mut ws, &mut g).loss_sum as f64 / n as f64;
        let mut pattern = Vec::new();
        for (i, l) in plan.layers.iter().enumerate() {
            match l.layer {
                Layer::Relu => pattern.extend(ws.output(&plan, i, n).iter().map(|&v| (v > 0.0) as u32)),
                Layer::MaxPool { .. } => pattern.extend_from_slice(ws.pool_argmax(&plan, i, n)),
                _ => {}
            }
        }
        (loss, pattern)
    };
    let checked = check_gradient_away_from_kinks("chunked", &params.values, &grads, loss);
    assert!(checked * 10 >= plan.parameter_count * 7, "only {checked} of {} checked", plan.parameter_count);
}

#[test]
fn chunked_step_is_the_same_whatever_the_thread_count() {
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| both_paths(&Network::lenet5(), 300, 9).1)
    };
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let (one, three) = (run(1), run(3));
    assert_eq!(bits(&one.0), bits(&three.0), "gradient");
    assert_eq!(one.1.to_bits(), three.1.to_bits(), "loss");
    assert_eq!(bits(&one.2), bits(&three.2), "logits");
}
