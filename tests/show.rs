//! `lenet show`: per-layer activations on both paths (the GPU's equal the CPU's), the kernel
//! grid's layout, the feature figure, and the command itself.

mod common;

use common::{Run, TempDir, run_lenet};
use lenet_gpu::cpu::engine::CpuEngine;
use lenet_gpu::cpu::optimizer::Optimizer;
use lenet_gpu::data::synthetic;
use lenet_gpu::gpu::engine::GpuEngine;
use lenet_gpu::model::{Network, Parameters, Plan, arch};
use lenet_gpu::train::{Engine, LayerOutput, feature_layers};
use lenet_gpu::viz;
use std::path::Path;

const SGD: Optimizer = Optimizer::Sgd { lr: 0.01, momentum: 0.0 };

fn plan(spec: &str) -> Plan {
    arch::load_network(spec).unwrap().plan().unwrap()
}

/// Largest difference over largest magnitude, per layer, so a failure names the layer.
fn assert_activations_close(gpu: &[LayerOutput], cpu: &[LayerOutput], tolerance: f32, what: &str) {
    assert_eq!(
        gpu.iter().map(|a| a.layer).collect::<Vec<_>>(),
        cpu.iter().map(|a| a.layer).collect::<Vec<_>>(),
        "{what}: the same layers"
    );
    for (g, c) in gpu.iter().zip(cpu) {
        assert_eq!(g.values.len(), c.values.len(), "{what}: layer {} size", c.layer);
        let scale = c.values.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
        let worst = g.values.iter().zip(&c.values).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(
            worst <= tolerance * scale,
            "{what}: layer {} differs by {:.2e} of its scale",
            c.layer,
            worst / scale
        );
    }
}

#[test]
fn activations_are_the_outputs_of_every_layer_no_relu_follows() {
    let lenet = Network::lenet5().plan().unwrap();
    // conv1+relu, pool1, conv2+relu, pool2, fc1+relu, fc2+relu, fc3
    assert_eq!(feature_layers(&lenet), vec![1, 2, 4, 5, 7, 9, 10]);
    let labels: Vec<String> =
        feature_layers(&lenet).iter().map(|&i| viz::features::layer_label(&lenet, i)).collect();
    assert_eq!(labels, ["conv1+relu", "pool1", "conv2+relu", "pool2", "fc1+relu", "fc2+relu", "fc3"]);
    let odd = plan("relu,relu,conv3k3,maxpool2,relu,dense10");
    assert_eq!(feature_layers(&odd), vec![1, 2, 4, 5]);
    let labels: Vec<String> =
        feature_layers(&odd).iter().map(|&i| viz::features::layer_label(&odd, i)).collect();
    assert_eq!(labels, ["relu", "conv1", "pool1+relu", "fc1"]);
    // tanh folds like ReLU, but a second activation after a folded one is a stage of its own
    // (tanh is not idempotent; ReLU after tanh is a different function).
    let smooth = plan("tanh,conv4k3p1,tanh,relu,avgpool2,tanh,tanh,dense10,tanh");
    assert_eq!(feature_layers(&smooth), vec![0, 2, 3, 5, 6, 8]);
    let labels: Vec<String> =
        feature_layers(&smooth).iter().map(|&i| viz::features::layer_label(&smooth, i)).collect();
    assert_eq!(
        labels,
        ["tanh", "conv1+tanh", "conv1+tanh+relu", "avgpool1+tanh", "avgpool1+tanh+tanh", "fc1+tanh"]
    );
}

#[test]
fn cpu_activations_are_the_forward_pass_layer_by_layer() {
    let plan = Network::lenet5().plan().unwrap();
    let mut cpu = CpuEngine::new(plan.clone(), Parameters::init(&plan, 3), SGD);
    let data = synthetic::generate(0, 5, 3).test;
    let acts = cpu.activations(&data).unwrap();
    assert_eq!(acts.len(), 7);
    for a in &acts {
        assert_eq!(a.values.len(), 5 * plan.layers[a.layer].output.len(), "layer {}", a.layer);
    }
    // The last is the logits; ReLU outputs are never negative.
    assert_eq!(acts.last().unwrap().values, cpu.logits(&data).unwrap());
    for a in &acts[..6] {
        assert!(a.values.iter().all(|&v| v >= 0.0), "layer {} after a ReLU", a.layer);
    }
    // Pool1 is the 2x2 maximum of conv1+relu: check one image's first map by hand.
    let (conv, pool) = (&acts[0].values, &acts[1].values);
    for y in 0..14 {
        for x in 0..14 {
            let at = |yy: usize, xx: usize| conv[yy * 28 + xx];
            let max = at(2 * y, 2 * x)
                .max(at(2 * y, 2 * x + 1))
                .max(at(2 * y + 1, 2 * x))
                .max(at(2 * y + 1, 2 * x + 1));
            assert_eq!(pool[y * 14 + x], max);
        }
    }
}

#[test]
fn gpu_feature_maps_equal_the_cpu_ones() {
    let Some(gpu) = common::gpu() else { return };
    let data = synthetic::generate(0, 3, 8).test;
    let mut gpu = Some(gpu);
    for spec in [
        "lenet5",
        "relu,conv4k3p1,relu,relu,maxpool2,conv5k3s2,dense12,relu,dense10",
        "lenet5-1998",
        "tanh,conv4k3p1,tanh,relu,avgpool2,tanh,tanh,dense10,tanh",
    ] {
        let plan = plan(spec);
        let params = Parameters::init(&plan, 21);
        let mut cpu = CpuEngine::new(plan.clone(), params.clone(), SGD);
        let device = gpu.take().or_else(common::gpu).unwrap();
        let mut g = GpuEngine::new(device, plan, &params, SGD).unwrap();
        let (before_submissions, before_readbacks) = {
            let (_, s, r) = g.gpu().counters.snapshot();
            (s, r)
        };
        let on_gpu = g.activations(&data).unwrap();
        let (_, s, r) = g.gpu().counters.snapshot();
        assert_eq!((s - before_submissions, r - before_readbacks), (1, 1), "{spec}: one batch, one readback");
        assert_activations_close(&on_gpu, &cpu.activations(&data).unwrap(), 1e-4, spec);
    }
}

/// Bounding boxes of the connected regions of exactly `color` at least `min` pixels on a side.
fn blobs(picture: &image::RgbImage, color: [u8; 3], min: u32) -> Vec<(u32, u32, u32, u32)> {
    let (w, h) = picture.dimensions();
    let mut seen = vec![false; (w * h) as usize];
    let mut found = Vec::new();
    for start in 0..w * h {
        if seen[start as usize] || picture.get_pixel(start % w, start / w).0 != color {
            continue;
        }
        let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
        let mut stack = vec![start];
        seen[start as usize] = true;
        while let Some(p) = stack.pop() {
            let (x, y) = (p % w, p / w);
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
            let next = [(x.wrapping_sub(1), y), (x + 1, y), (x, y.wrapping_sub(1)), (x, y + 1)];
            for (nx, ny) in next {
                if nx < w && ny < h && !seen[(ny * w + nx) as usize] && picture.get_pixel(nx, ny).0 == color {
                    seen[(ny * w + nx) as usize] = true;
                    stack.push(ny * w + nx);
                }
            }
        }
        if x1 + 1 - x0 >= min && y1 + 1 - y0 >= min {
            found.push((x0, y0, x1 + 1 - x0, y1 + 1 - y0));
        }
    }
    found
}

fn decode(png: &[u8]) -> image::RgbImage {
    image::load_from_memory_with_format(png, image::ImageFormat::Png).expect("a PNG").to_rgb8()
}

#[test]
fn the_kernel_grid_has_a_row_per_output_and_a_column_per_input_channel() {
    let plan = Network::lenet5().plan().unwrap();
    let mut params = Parameters::zeros(&plan);
    // conv1: every weight -1 (6 all-blue kernels); conv2: only kernel (output 15, input 5) is +1.
    let offset = |name: &str| params.views.iter().find(|v| v.name == name).unwrap().offset;
    let (conv1, conv2) = (offset("conv1.weight"), offset("conv2.weight"));
    params.values[conv1..conv1 + 6 * 25].fill(-1.0);
    params.values[conv2 + (15 * 6 + 5) * 25..conv2 + (15 * 6 + 6) * 25].fill(1.0);
    let picture = viz::kernels::draw(&plan, &params).unwrap();
    let image = decode(&picture.png().unwrap());
    assert_eq!(image.dimensions(), (picture.width, picture.height));
    let blue = blobs(&image, [33, 102, 172], 5);
    let red = blobs(&image, [178, 24, 43], 5);
    assert_eq!(blue.len(), 6, "six conv1 kernels: {blue:?}");
    assert!(blue.windows(2).all(|w| w[0].0 == w[1].0 && w[0].1 < w[1].1), "in one column: {blue:?}");
    let side = blue[0].2;
    assert!(side >= 20 && blue.iter().all(|b| b.2 == side && b.3 == side), "square 5x5 cells: {blue:?}");
    assert_eq!(red.len(), 1, "one red kernel in conv2: {red:?}");
    let (x, y, w, h) = red[0];
    assert_eq!((w, h), (side, side));
    // The last row and the last column: below and right of every blue kernel.
    assert!(x > blue[0].0 && y > blue[5].1, "{red:?} vs {blue:?}");
    assert!(x + w + 16 + 16 >= picture.width, "the last column ends the picture: {red:?}");
}

#[test]
fn conv1_kernels_are_drawn_about_100_pixels_and_scale_enlarges_them() {
    let plan = Network::lenet5().plan().unwrap();
    let mut params = Parameters::zeros(&plan);
    let conv1 = params.views.iter().find(|v| v.name == "conv1.weight").unwrap().offset;
    params.values[conv1..conv1 + 6 * 25].fill(-1.0);
    let side = |scale: f32| {
        let picture = viz::kernels::draw_scaled(&plan, &params, scale).unwrap();
        let image = decode(&picture.png().unwrap());
        let blue = blobs(&image, [33, 102, 172], 5);
        assert_eq!(blue.len(), 6, "scale {scale}: {blue:?}");
        assert!(blue.iter().all(|b| b.2 == blue[0].2 && b.3 == blue[0].2), "square: {blue:?}");
        (blue[0].2, picture.width, picture.height)
    };
    let (normal, w, h) = side(1.0);
    assert!((90..=110).contains(&normal), "a conv1 kernel is {normal} pixels a side");
    let (double, w2, h2) = side(2.0);
    assert_eq!(double, 2 * normal);
    assert!(w2 > w && h2 > h);
    let (half, ..) = side(0.5);
    assert_eq!(half, normal / 2);
    assert!(viz::kernels::draw_scaled(&plan, &params, 0.0).is_err());
    assert!(viz::kernels::draw_scaled(&plan, &params, 1000.0).is_err(), "too large a picture");
}

/// Classes labelled by their digit.
fn digit(class: usize) -> String {
    class.to_string()
}

#[test]
fn the_feature_figure_draws_every_layer_for_one_image() {
    let plan = Network::lenet5().plan().unwrap();
    let mut cpu = CpuEngine::new(plan.clone(), Parameters::init(&plan, 5), SGD);
    let data = synthetic::generate(0, 1, 5).test;
    let acts = cpu.activations(&data).unwrap();
    let picture = viz::features::draw(&plan, data.image(0), &acts, &digit).unwrap();
    let image = decode(&picture.png().unwrap());
    assert_eq!(image.dimensions(), (picture.width, picture.height));
    assert!(picture.width >= 16 * 28 && picture.height > 7 * 40, "{}x{}", picture.width, picture.height);
    // Wrong inputs are errors, not panics.
    assert!(viz::features::draw(&plan, &[0; 10], &acts, &digit).is_err());
    let mut short = acts.clone();
    short[0].values.pop();
    assert!(viz::features::draw(&plan, data.image(0), &short, &digit).is_err());
}

#[test]
fn feature_maps_share_one_scale_and_the_input_is_drawn_largest() {
    let plan = Network::lenet5().plan().unwrap();
    // All zero: every tile is a black square (the blank input's lowest normalized value, and 0 of
    // each map), so the black regions are the tiles; dense rows are strips 24 pixels high.
    let acts: Vec<LayerOutput> = feature_layers(&plan)
        .into_iter()
        .map(|layer| LayerOutput { layer, values: vec![0.0; plan.layers[layer].output.len()] })
        .collect();
    let picture = viz::features::draw(&plan, &[0; 28 * 28], &acts, &digit).unwrap();
    let image = decode(&picture.png().unwrap());
    let tiles: Vec<_> =
        blobs(&image, [0, 0, 0], 20).into_iter().filter(|&(_, _, w, h)| w == h).collect::<Vec<_>>();
    // Rows of tiles, top to bottom: the input, conv1 (6@28x28), pool1 (6@14x14), conv2 (16@10x10),
    // pool2 (16@5x5).
    let mut rows: Vec<Vec<(u32, u32, u32, u32)>> = Vec::new();
    for t in tiles {
        match rows.iter_mut().find(|r| r[0].1 == t.1) {
            Some(row) => row.push(t),
            None => rows.push(vec![t]),
        }
    }
    rows.sort_by_key(|r| r[0].1);
    let counts: Vec<usize> = rows.iter().map(Vec::len).collect();
    assert_eq!(counts, [1, 6, 6, 16, 16], "{rows:?}");
    let sides: Vec<u32> = rows.iter().map(|r| r[0].2).collect();
    for (row, side) in [28, 28, 14, 10, 5].into_iter().enumerate() {
        assert!(
            rows[row].iter().all(|t| t.2 == sides[row] && t.3 == sides[row]),
            "row {row}: {:?}",
            rows[row]
        );
        assert_eq!(sides[row] % side, 0, "row {row}: whole pixels per value");
    }
    // One scale for the maps: pixels per value are the same in every row, so a pooled map is
    // half the size of the map it came from.
    let px: Vec<u32> = sides[1..].iter().zip([28, 14, 10, 5]).map(|(s, n)| s / n).collect();
    assert!(px.iter().all(|&p| p == px[0] && p >= 3), "pixels per value {px:?}");
    assert_eq!(sides[1], 2 * sides[2], "pool1 is half of conv1");
    assert_eq!(viz::features::map_scale(&[plan.layers[1].output, plan.layers[4].output]) as u32, px[0]);
    // The input is the largest picture, about 224 pixels.
    assert!(sides[0] > sides[1] && sides[0] >= 196, "input {} vs conv1 {}", sides[0], sides[1]);
    // A network whose maps are larger than its input (padding 2) still draws the input largest.
    let wide = arch::load_network("conv4k3p2,relu,maxpool2,dense10").unwrap().plan().unwrap();
    let longest = wide.layers[0].output.height;
    let map_px = viz::features::map_scale(&[wide.layers[0].output]);
    let input_px = viz::features::input_scale(wide.input(), map_px, longest);
    assert!(input_px * 28 > map_px * longest as i32, "{input_px} x 28 vs {map_px} x {longest}");
}

fn lenet(args: &[&str], dir: &Path) -> Run {
    run_lenet(args, |cmd| {
        cmd.current_dir(dir).env("LENET_DATA_DIR", dir);
    })
}

fn png_size(path: &Path) -> (u32, u32) {
    let image = image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (image.width(), image.height())
}

#[test]
fn lenet_show_draws_kernels_and_features_and_explains_a_missing_model() {
    let dir = TempDir::new("show");
    let plan = Network::lenet5().plan().unwrap();
    lenet_gpu::checkpoint::save(&dir.join("m.safetensors"), &Parameters::init(&plan, 2), Default::default())
        .unwrap();
    let digit = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/7-tall.png");
    let digit = digit.to_str().unwrap();

    let out = lenet(&["show", "kernels", "--model", "m.safetensors", "--out", "k.png"], dir.path());
    assert!(out.success(), "{}", out.stderr);
    assert!(out.stdout.contains("conv1 (6x1 of 5x5), conv2 (16x6 of 5x5)"));
    let (w, h) = png_size(&dir.join("k.png"));
    assert!(w > 300 && h > 16 * 40, "{w}x{h}");
    let args = ["show", "kernels", "--model", "m.safetensors", "--out", "k2.png", "--scale", "2"];
    let out = lenet(&args, dir.path());
    assert!(out.success(), "{}", out.stderr);
    let (w2, h2) = png_size(&dir.join("k2.png"));
    assert!(w2 > w * 3 / 2 && h2 > h * 3 / 2, "--scale 2: {w2}x{h2} vs {w}x{h}");
    let out = lenet(&["show", "kernels", "--model", "m.safetensors", "--scale", "0"], dir.path());
    assert!(!out.success() && out.stderr.contains("above 0"), "{}", out.stderr);

    let mut devices = vec!["cpu"];
    if common::gpu().is_some() {
        devices.push("gpu");
    }
    for device in devices {
        let name = format!("f-{device}.png");
        let args =
            ["show", "features", digit, "--model", "m.safetensors", "--out", &name, "--device", device];
        let out = lenet(&args, dir.path());
        let stdout = &out.stdout;
        assert!(out.success(), "{device}: {}", out.stderr);
        assert!(stdout.contains("7 layers drawn"), "{stdout}");
        let (w, h) = png_size(&dir.join(&name));
        assert!(w > 16 * 28 && h > 300, "{w}x{h}");
    }

    for what in [vec!["kernels"], vec!["features", digit]] {
        let mut args = vec!["show"];
        args.extend(&what);
        args.extend(["--model", "nowhere.safetensors"]);
        let out = lenet(&args, dir.path());
        let stderr = &out.stderr;
        assert!(!out.success(), "{what:?}");
        assert!(stderr.contains("nowhere.safetensors: no such model file"), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    }
    assert!(!dir.join("kernels.png").exists() && !dir.join("features.png").exists());
}

#[test]
fn a_short_run_records_a_row_every_step_and_its_curves_draw() {
    let dir = TempDir::new("short-curves");
    let data = ["--dataset", "synthetic", "--no-download", "--limit-train", "256", "--limit-test", "64"];
    let args = ["train", "--device", "cpu", "--batch-size", "32", "--epochs", "2", "--metrics", "m.csv"];
    let out = lenet(&[&args[..], &data].concat(), dir.path());
    assert!(out.success(), "{}", out.stderr);
    // 8 steps an epoch: without --metrics-every, a train row every step (50 would give one an epoch).
    let rows = lenet_gpu::metrics::read(&dir.join("m.csv")).unwrap();
    let train = rows.iter().filter(|r| r.kind == lenet_gpu::metrics::Kind::Train).count();
    assert_eq!((train, rows.len()), (16, 18), "{rows:?}");
    let out = lenet(&["show", "curves", "m.csv", "--out", "c.png"], dir.path());
    assert!(out.success() && out.stdout.contains("18 rows of m.csv"), "{}{}", out.stdout, out.stderr);
    assert_eq!(png_size(&dir.join("c.png")), (800, 800));
}
