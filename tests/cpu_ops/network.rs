//! Whole networks: LeNet-5's shapes, parameter layout and initialization, and the gradient of
//! the loss w.r.t. every parameter through forward_backward against finite differences.

use super::random;
use crate::common::gradcheck::check_gradient_away_from_kinks;
use lenet_gpu::cpu::network::{Workspace, forward_backward};
use lenet_gpu::model::{Layer, Network, Parameters, Plan, Shape};
use lenet_gpu::rng::Rng;

#[test]
fn lenet5_shapes_and_parameter_count() {
    let plan = Network::lenet5().plan().unwrap();
    let shapes: Vec<String> = plan.layers.iter().map(|l| l.output.to_string()).collect();
    assert_eq!(
        shapes,
        ["6@28x28", "6@28x28", "6@14x14", "16@10x10", "16@10x10", "16@5x5", "120", "120", "84", "84", "10"]
    );
    assert_eq!(plan.parameter_count, 61_706);
    let params = Parameters::zeros(&plan);
    let named: Vec<(String, Vec<usize>)> =
        params.views.iter().map(|v| (v.name.clone(), v.shape.clone())).collect();
    let expected: Vec<(&str, Vec<usize>)> = vec![
        ("conv1.weight", vec![6, 1, 5, 5]),
        ("conv1.bias", vec![6]),
        ("conv2.weight", vec![16, 6, 5, 5]),
        ("conv2.bias", vec![16]),
        ("fc1.weight", vec![120, 400]),
        ("fc1.bias", vec![120]),
        ("fc2.weight", vec![84, 120]),
        ("fc2.bias", vec![84]),
        ("fc3.weight", vec![10, 84]),
        ("fc3.bias", vec![10]),
    ];
    assert_eq!(named, expected.into_iter().map(|(n, s)| (n.to_string(), s)).collect::<Vec<_>>());
    // The views tile the buffer with no gap or overlap.
    let mut offset = 0;
    for v in &params.views {
        assert_eq!(v.offset, offset, "{}", v.name);
        offset += v.len;
    }
    assert_eq!(offset, 61_706);
}

#[test]
fn initialization_follows_pytorch_bounds_and_the_seed() {
    let plan = Network::lenet5().plan().unwrap();
    let a = Parameters::init(&plan, 1);
    assert_eq!(a, Parameters::init(&plan, 1));
    assert_ne!(a.values, Parameters::init(&plan, 2).values);
    // Each bias shares its layer's weight bound: 1/√fan_in of that weight.
    for pair in a.views.chunks(2) {
        let (weight, bias) = (&pair[0], &pair[1]);
        let fan_in: usize = weight.shape[1..].iter().product();
        let bound = 1.0 / (fan_in as f32).sqrt();
        for v in [weight, bias] {
            let max = a.values[v.offset..v.offset + v.len].iter().fold(0.0f32, |m, x| m.max(x.abs()));
            // Weights are many draws: their largest comes close to the bound.
            let floor = if v.len > 100 { 0.8 * bound } else { 0.0 };
            assert!(max <= bound && max > floor, "{}: max {max}, bound {bound}", v.name);
        }
    }
}

#[test]
fn whole_network_gradient_matches_finite_differences() {
    // A small network with every layer kind, stride and padding: the gradient of the mean loss
    // w.r.t. every parameter, through forward_backward.
    let network = Network {
        input: Shape::new(2, 7, 6),
        layers: vec![
            Layer::conv(3, 3, 2, 1),
            Layer::Relu,
            Layer::MaxPool { window: 2, stride: 1 },
            Layer::conv(4, 2, 1, 0),
            Layer::Relu,
            Layer::Dense { out_features: 5 },
            Layer::Relu,
            Layer::Dense { out_features: 3 },
        ],
    };
    let checked = check_network_gradient(&network);
    let total = network.plan().unwrap().parameter_count;
    assert!(checked * 10 >= total * 7, "only {checked} of {total} coordinates away from kinks");
}

#[test]
fn smooth_network_gradient_matches_finite_differences_everywhere() {
    // The 1998 LeNet's kind of network, tanh and average pooling only (overlapping windows, and
    // a tanh on the logits): no kinks, so every coordinate is checked.
    let network = Network {
        input: Shape::new(1, 9, 8),
        layers: vec![
            Layer::conv(3, 3, 1, 1),
            Layer::Tanh,
            Layer::AvgPool { window: 3, stride: 2 },
            Layer::Dense { out_features: 5 },
            Layer::Tanh,
            Layer::Dense { out_features: 3 },
            Layer::Tanh,
        ],
    };
    assert_eq!(check_network_gradient(&network), network.plan().unwrap().parameter_count);
}

/// Checks the gradient of the mean loss w.r.t. every parameter of `network`, through
/// forward_backward, on 4 random examples; returns how many coordinates were away from kinks.
fn check_network_gradient(network: &Network) -> usize {
    let plan = network.plan().unwrap();
    let params = Parameters::init(&plan, 5);
    let mut rng = Rng::new(71);
    let n = 4;
    let input = random(n * plan.input().len(), &mut rng);
    let labels: Vec<u32> = (0..n).map(|_| rng.below(3) as u32).collect();
    let mut ws = Workspace::new(&plan, n);
    let mut grads = vec![0.0; plan.parameter_count];
    forward_backward(&plan, &params.values, &input, &labels, &mut ws, &mut grads);
    let loss = |p: &[f32]| {
        let mut ws = Workspace::new(&plan, n);
        let mut g = vec![0.0; p.len()];
        let loss = forward_backward(&plan, p, &input, &labels, &mut ws, &mut g).loss_sum as f64 / n as f64;
        (loss, activation_pattern(&plan, &ws, n))
    };
    check_gradient_away_from_kinks(&network.layers_string(), &params.values, &grads, loss)
}

/// Which ReLUs are on and which pixels win each max-pool: the loss is smooth in the
/// parameters wherever this stays the same, so finite differences are meaningful there.
fn activation_pattern(plan: &Plan, ws: &Workspace, n: usize) -> Vec<u32> {
    let mut pattern = Vec::new();
    for (i, layer) in plan.layers.iter().enumerate() {
        match layer.layer {
            Layer::Relu => pattern.extend(ws.output(plan, i, n).iter().map(|&v| (v > 0.0) as u32)),
            Layer::MaxPool { .. } => pattern.extend_from_slice(ws.pool_argmax(plan, i, n)),
            _ => {}
        }
    }
    pattern
}

#[test]
fn beyond_lenet_network_gradient_matches_finite_differences_everywhere() {
    // Every layer past LeNet's, smooth (GELU, no max-pool): batch norms in training mode (the
    // batch's statistics depend on every parameter before them), a residual block with an
    // identity shortcut and one with a strided 1x1 convolution, dropout (its mask fixed by the
    // step's key), global average pooling. The running statistics get no gradient.
    let network: Network = "input2x8x8,conv4k3p1,bn,gelu,res(conv4k3p1,bn,gelu,conv4k3p1,bn),gelu,res(conv6k3s2p1,gelu),dropout0.25,gap,dense3"
        .parse()
        .unwrap();
    assert_eq!(check_network_gradient(&network), network.plan().unwrap().parameter_count);
}
