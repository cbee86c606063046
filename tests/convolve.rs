//! `lenet convolve`: the lesson's worked example on both paths, kernel parsing, stride and
//! padding shapes, an edge detector on a step edge, and the command itself.

mod common;

use common::{TempDir, run_lenet};
use lenet_gpu::convolve::{self, Kernel, Plane};

fn plane(rows: &[&[f32]]) -> Plane {
    Plane::from_rows(&rows.iter().map(|r| r.to_vec()).collect::<Vec<_>>()).unwrap()
}

fn kernel(text: &str) -> Kernel {
    text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn lesson_input() -> Plane {
    plane(&[&[0.0, 1.0, 2.0], &[3.0, 4.0, 5.0], &[6.0, 7.0, 8.0]])
}

#[test]
fn the_lessons_worked_example_gives_19_25_37_43_on_the_cpu_path() {
    let out = convolve::convolve(None, &lesson_input(), &kernel("[[0,1],[2,3]]"), 1, 0).unwrap();
    assert_eq!(out.rows(), vec![vec![19.0, 25.0], vec![37.0, 43.0]]);
}

#[test]
fn the_lessons_worked_example_gives_19_25_37_43_on_the_gpu_path() {
    let Some(gpu) = common::gpu() else { return };
    let out = convolve::convolve(Some(&gpu), &lesson_input(), &kernel("[[0,1],[2,3]]"), 1, 0).unwrap();
    assert_eq!(out.rows(), vec![vec![19.0, 25.0], vec![37.0, 43.0]]);
    // The edge detector on a step edge too, against the CPU path.
    let step = step_edge(9, 7, 4);
    let k = kernel("vertical-edge");
    let cpu = convolve::convolve(None, &step, &k, 1, 1).unwrap();
    assert_eq!(convolve::convolve(Some(&gpu), &step, &k, 1, 1).unwrap(), cpu);
}

#[test]
fn named_kernels_are_the_lessons() {
    assert_eq!(kernel("vertical-edge").0.rows(), vec![vec![-1.0, 0.0, 1.0]; 3]);
    assert_eq!(
        kernel("horizontal-edge").0.rows(),
        vec![vec![1.0, 1.0, 1.0], vec![0.0, 0.0, 0.0], vec![-1.0, -1.0, -1.0]]
    );
    assert_eq!(
        kernel(" outline ").0.rows(),
        vec![vec![1.0, 1.0, 1.0], vec![1.0, 0.0, 1.0], vec![1.0, 1.0, 1.0]]
    );
}

#[test]
fn literal_kernels_of_any_rectangular_size_parse() {
    let k = kernel(" [ [1, -2.5, 3e0] , [0,0.5,-1] ] ");
    assert_eq!((k.0.width, k.0.height), (3, 2));
    assert_eq!(k.0.values, [1.0, -2.5, 3.0, 0.0, 0.5, -1.0]);
    assert_eq!(kernel("[[7]]").0.values, [7.0]);
    assert_eq!((kernel("[[1],[2],[3]]").0.width, kernel("[[1],[2],[3]]").0.height), (1, 3));
}

#[test]
fn bad_kernels_are_errors_naming_the_problem() {
    for (text, problem) in [
        ("[[1,2],[3]]", "row 1 has 2 numbers, row 2 has 1"),
        ("[]", "empty"),
        ("[[]]", "row 1 is empty"),
        ("", "expected vertical-edge, horizontal-edge, outline or a list of rows"),
        ("[[1,x],[2,3]]", "row 1: \"x\" is not a number"),
        ("[[1,2],[3,nan]]", "row 2: \"nan\" is not a number"),
        ("[[1,,2]]", "row 1 has an empty item"),
        ("[1,2,3]", "expected a row"),
        ("[[1,2]", "missing its closing ]"),
        ("[[1,2],[3,4]] x", "start with [ and end with ]"),
        ("[[1,2] [3,4]]", "expected , or ] after row 1"),
        ("[[[1]]]", "rows must hold numbers"),
        ("sharpen", "expected vertical-edge, horizontal-edge, outline"),
    ] {
        let error = text.parse::<Kernel>().expect_err(text).to_string();
        assert!(error.contains(problem), "{text:?}: {error:?} does not say {problem:?}");
    }
}

#[test]
fn stride_2_and_padding_1_give_the_expected_shapes() {
    let image = Plane { width: 7, height: 5, values: vec![1.0; 35] };
    let k = kernel("outline");
    let shape = |stride, padding| {
        let out = convolve::convolve(None, &image, &k, stride, padding).unwrap();
        assert_eq!(out.values.len(), out.width * out.height);
        (out.width, out.height)
    };
    assert_eq!(shape(1, 0), (5, 3));
    assert_eq!(shape(1, 1), (7, 5));
    assert_eq!(shape(2, 0), (3, 2));
    assert_eq!(shape(2, 1), (4, 3));
    // Padding 1: a corner sees 3 of the 8 ones of the outline kernel, the middle all 8.
    let out = convolve::convolve(None, &image, &k, 1, 1).unwrap();
    assert_eq!((out.values[0], out.values[2 * 7 + 3]), (3.0, 8.0));
    // The lesson's input with stride 2 and padding 1: 2x2 outputs at the padded corners.
    let out = convolve::convolve(None, &lesson_input(), &kernel("[[0,1],[2,3]]"), 2, 1).unwrap();
    assert_eq!(out.rows(), vec![vec![0.0, 8.0], vec![21.0, 43.0]]);
    let err = convolve::convolve(None, &lesson_input(), &kernel("[[1,1,1,1]]"), 1, 0).unwrap_err();
    assert!(err.to_string().contains("larger than the 3x3 image"), "{err}");
    assert!(convolve::convolve(None, &lesson_input(), &kernel("[[1]]"), 0, 0).is_err());
}

/// `width` x `height`: 0 left of column `edge`, 1 from it on.
fn step_edge(width: usize, height: usize, edge: usize) -> Plane {
    let values = (0..width * height).map(|i| if i % width >= edge { 1.0 } else { 0.0 }).collect();
    Plane { width, height, values }
}

#[test]
fn the_vertical_edge_kernel_responds_on_a_step_edge_and_is_0_on_flat_regions() {
    let out = convolve::convolve(None, &step_edge(10, 6, 5), &kernel("vertical-edge"), 1, 0).unwrap();
    assert_eq!((out.width, out.height), (8, 4));
    // Output column x covers input columns x..x+2: the edge (between 4 and 5) is inside for x = 3, 4.
    for row in out.rows() {
        assert_eq!(row, [0.0, 0.0, 0.0, 3.0, 3.0, 0.0, 0.0, 0.0]);
    }
    // The horizontal-edge kernel sees nothing in a vertical edge.
    let out = convolve::convolve(None, &step_edge(10, 6, 5), &kernel("horizontal-edge"), 1, 0).unwrap();
    assert!(out.values.iter().all(|&v| v == 0.0));
}

#[test]
fn signed_results_map_0_to_mid_gray_and_unsigned_ones_min_to_max() {
    let signed = plane(&[&[-2.0, 0.0, 1.0, 2.0]]);
    assert_eq!(convolve::to_gray8(&signed), [0, 128, 191, 255]);
    let unsigned = plane(&[&[1.0, 2.0, 3.0]]);
    assert_eq!(convolve::to_gray8(&unsigned), [0, 128, 255]);
    assert_eq!(convolve::to_gray8(&plane(&[&[5.0, 5.0]])), [0, 0]);
}

#[test]
fn lenet_convolve_writes_a_png_of_the_expected_size() {
    let dir = TempDir::new("convolve");
    let asset = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/0-gray.png");
    let (w, h) = image::image_dimensions(&asset).unwrap();
    let out = dir.join("edges.png");
    let args = ["convolve", asset.to_str().unwrap(), "--kernel", "vertical-edge", "--stride", "2"];
    let run = run_lenet(
        &[&args[..], &["--padding", "1", "--device", "cpu", "--out", out.to_str().unwrap()]].concat(),
        |_| {},
    );
    let stdout = &run.stdout;
    assert!(run.success(), "{stdout}{}", run.stderr);
    let (ow, oh) = ((w + 2 - 3) / 2 + 1, (h + 2 - 3) / 2 + 1);
    assert!(stdout.contains(&format!("{w}x{h} -> {ow}x{oh}")), "{stdout}");
    assert!(stdout.contains(&format!("wrote {}", out.display())), "{stdout}");
    let png = image::open(&out).unwrap();
    assert_eq!((png.width(), png.height()), (ow, oh));
    assert_eq!(png.color(), image::ColorType::L8);

    let never = dir.join("never.png");
    let args =
        ["convolve", asset.to_str().unwrap(), "--kernel", "[[1,2],[3]]", "--out", never.to_str().unwrap()];
    let run = run_lenet(&args, |_| {});
    let stderr = &run.stderr;
    assert!(!run.success() && stderr.contains("row 1 has 2 numbers, row 2 has 1"), "{stderr}");
    assert!(!dir.join("never.png").exists());
}
