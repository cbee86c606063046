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
    // The lesson's third kernel sums the eight neighbours: it is `neighbours`, a blur (it was
    // called `outline`, which it is not).
    assert_eq!(
        kernel(" neighbours ").0.rows(),
        vec![vec![1.0, 1.0, 1.0], vec![1.0, 0.0, 1.0], vec![1.0, 1.0, 1.0]]
    );
}

#[test]
fn the_named_kernels_hold_their_values_and_say_what_they_do() {
    let rows = |name: &str| kernel(name).0.rows();
    assert_eq!(rows("outline"), vec![vec![-1.0, -1.0, -1.0], vec![-1.0, 8.0, -1.0], vec![-1.0, -1.0, -1.0]]);
    assert_eq!(rows("sharpen"), vec![vec![0.0, -1.0, 0.0], vec![-1.0, 5.0, -1.0], vec![0.0, -1.0, 0.0]]);
    assert_eq!(
        rows("blur"),
        vec![vec![0.0625, 0.125, 0.0625], vec![0.125, 0.25, 0.125], vec![0.0625, 0.125, 0.0625]]
    );
    assert_eq!(rows("sobel-x"), vec![vec![-1.0, 0.0, 1.0], vec![-2.0, 0.0, 2.0], vec![-1.0, 0.0, 1.0]]);
    assert_eq!(rows("sobel-y"), vec![vec![-1.0, -2.0, -1.0], vec![0.0, 0.0, 0.0], vec![1.0, 2.0, 1.0]]);
    // The lesson's three come first, in its order; every name parses to its own values.
    let names: Vec<&str> = convolve::NAMED_KERNELS.iter().map(|k| k.name).collect();
    assert_eq!(
        names,
        [
            "vertical-edge",
            "horizontal-edge",
            "neighbours",
            "outline",
            "sharpen",
            "blur",
            "sobel-x",
            "sobel-y"
        ]
    );
    for k in &convolve::NAMED_KERNELS {
        assert_eq!(kernel(k.name), k.kernel(), "{}", k.name);
        assert_eq!(kernel(k.name).named(), Some(k), "{}", k.name);
        // Its literal rows parse back to the same kernel, and are known by its name.
        assert_eq!(kernel(&k.kernel().literal()).named().map(|n| n.name), Some(k.name), "{}", k.name);
    }
    let neighbours = convolve::NamedKernel::find("neighbours").unwrap();
    assert!(
        neighbours.does.contains("blur") && neighbours.does.contains("not an outline"),
        "{}",
        neighbours.does
    );
    assert!(
        kernel("neighbours")
            .describe()
            .starts_with("neighbours [[1,1,1],[1,0,1],[1,1,1]]: the lesson's third")
    );
    assert_eq!(kernel("[[0,1],[2,3]]").describe(), "the 2x2 kernel [[0,1],[2,3]]");
    assert_eq!(kernel("[[0.5,-0.25]]").literal(), "[[0.5,-0.25]]");
}

/// A 9x9 picture: 0 everywhere but a bright 3x3 square in the middle.
fn bright_square() -> Plane {
    let values =
        (0..81).map(|i| if (3..6).contains(&(i % 9)) && (3..6).contains(&(i / 9)) { 1.0 } else { 0.0 });
    Plane { width: 9, height: 9, values: values.collect() }
}

#[test]
fn each_named_kernel_does_what_it_says_on_a_bright_square() {
    let run = |name: &str, picture: &Plane| convolve::convolve(None, picture, &kernel(name), 1, 1).unwrap();
    let square = bright_square();
    let at = |p: &Plane, x: usize, y: usize| p.values[y * p.width + x];
    // outline: 0 on flat regions (inside the square and far outside), non-zero along its border.
    let outline = run("outline", &square);
    assert_eq!((at(&outline, 4, 4), at(&outline, 0, 0)), (0.0, 0.0));
    assert_eq!((at(&outline, 3, 3), at(&outline, 2, 2)), (5.0, -1.0), "a corner inside, and outside it");
    // neighbours: a blur, never negative, brightest in the middle; no outline (the middle is not 0).
    let neighbours = run("neighbours", &square);
    assert!(neighbours.values.iter().all(|&v| v >= 0.0));
    assert_eq!(at(&neighbours, 4, 4), 8.0);
    // blur keeps the brightness of a flat region and spreads the square by one pixel.
    let flat = Plane { width: 5, height: 5, values: vec![0.5; 25] };
    let blurred = convolve::convolve(None, &flat, &kernel("blur"), 1, 0).unwrap();
    assert!(blurred.values.iter().all(|&v| (v - 0.5).abs() < 1e-6), "{:?}", blurred.values);
    let blurred = run("blur", &square);
    assert_eq!((at(&blurred, 2, 4), at(&blurred, 1, 4)), (0.25, 0.0));
    // sharpen: a flat region keeps its value; the square's edge overshoots.
    let sharp = convolve::convolve(None, &flat, &kernel("sharpen"), 1, 0).unwrap();
    assert!(sharp.values.iter().all(|&v| (v - 0.5).abs() < 1e-6));
    assert!(at(&run("sharpen", &square), 3, 3) > 1.0);
    // sobel-x: +4 on a step getting brighter to the right, sobel-y: nothing there.
    let step = step_edge(8, 5, 4);
    let sx = convolve::convolve(None, &step, &kernel("sobel-x"), 1, 0).unwrap();
    assert!(sx.rows().iter().all(|r| r == &[0.0, 0.0, 4.0, 4.0, 0.0, 0.0]), "{:?}", sx.rows());
    let sy = convolve::convolve(None, &step, &kernel("sobel-y"), 1, 0).unwrap();
    assert!(sy.values.iter().all(|&v| v == 0.0));
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
        (
            "",
            "expected vertical-edge, horizontal-edge, neighbours, outline, sharpen, blur, sobel-x, sobel-y \
             or a list of rows",
        ),
        ("[[1,x],[2,3]]", "row 1: \"x\" is not a number"),
        ("[[1,2],[3,nan]]", "row 2: \"nan\" is not a number"),
        ("[[1,,2]]", "row 1 has an empty item"),
        ("[1,2,3]", "expected a row"),
        ("[[1,2]", "missing its closing ]"),
        ("[[1,2],[3,4]] x", "start with [ and end with ]"),
        ("[[1,2] [3,4]]", "expected , or ] after row 1"),
        ("[[[1]]]", "rows must hold numbers"),
        ("emboss", "expected vertical-edge, horizontal-edge, neighbours, outline"),
    ] {
        let error = text.parse::<Kernel>().expect_err(text).to_string();
        assert!(error.contains(problem), "{text:?}: {error:?} does not say {problem:?}");
    }
}

#[test]
fn stride_2_and_padding_1_give_the_expected_shapes() {
    let image = Plane { width: 7, height: 5, values: vec![1.0; 35] };
    let k = kernel("neighbours");
    let shape = |stride, padding| {
        let out = convolve::convolve(None, &image, &k, stride, padding).unwrap();
        assert_eq!(out.values.len(), out.width * out.height);
        (out.width, out.height)
    };
    assert_eq!(shape(1, 0), (5, 3));
    assert_eq!(shape(1, 1), (7, 5));
    assert_eq!(shape(2, 0), (3, 2));
    assert_eq!(shape(2, 1), (4, 3));
    // Padding 1: a corner sees 3 of the 8 ones of the neighbours kernel, the middle all 8.
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
    assert_eq!(convolve::GrayScale::of(&signed).describe(), "mid-gray is 0, black -2, white +2");
    assert_eq!(
        convolve::GrayScale::of(&unsigned).describe(),
        "no negative values, contrast stretched: black 1 (the least), white 3 (the most)"
    );
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

#[test]
fn lenet_convolve_says_what_the_kernel_does_and_lists_the_kernels_in_its_help() {
    let dir = TempDir::new("convolve-words");
    let asset = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/0-gray.png");
    let out = dir.join("o.png");
    let args = ["convolve", asset.to_str().unwrap(), "--kernel", "outline", "--device", "cpu"];
    let run = run_lenet(&[&args[..], &["--out", out.to_str().unwrap()]].concat(), |_| {});
    let stdout = &run.stdout;
    assert!(run.success(), "{stdout}{}", run.stderr);
    assert!(
        stdout.contains("kernel: outline [[-1,-1,-1],[-1,8,-1],[-1,-1,-1]]: 8 times the pixel"),
        "{stdout}"
    );
    assert!(stdout.contains("mid-gray is 0, black -"), "{stdout}");
    let help = run_lenet(&["convolve", "--help"], |_| {});
    assert!(help.success(), "{}", help.stderr);
    for k in &convolve::NAMED_KERNELS {
        let line = help.stdout.lines().find(|l| l.trim_start().starts_with(&format!("{} ", k.name)));
        let line = line.unwrap_or_else(|| panic!("no line for {} in {}", k.name, help.stdout));
        assert!(line.contains(k.does) && line.contains(&k.kernel().literal()), "{line}");
    }
}

/// The runs of pure white (the identity kernel copies the input's white square to the result).
fn white_squares(picture: &image::RgbImage) -> Vec<(u32, u32, u32, u32)> {
    let (w, h) = picture.dimensions();
    let white = |x: u32, y: u32| picture.get_pixel(x, y).0 == [255, 255, 255];
    let mut found = Vec::new();
    for y in 1..h {
        for x in 1..w {
            // A square's top-left corner: white, with a black pixel above and to the left.
            let dark = |x: u32, y: u32| picture.get_pixel(x, y).0 == [0, 0, 0];
            if white(x, y) && dark(x - 1, y) && dark(x, y - 1) {
                let side_w = (x..w).take_while(|&xx| white(xx, y)).count() as u32;
                let side_h = (y..h).take_while(|&yy| white(x, yy)).count() as u32;
                found.push((x, y, side_w, side_h));
            }
        }
    }
    found
}

#[test]
fn the_caption_figure_shows_input_and_result_at_one_scale_with_the_kernel_in_words() {
    // 10x10 black with a white 2x2 square; the 1x1 identity kernel copies it.
    let mut input = Plane { width: 10, height: 10, values: vec![0.0; 100] };
    for i in [44, 45, 54, 55] {
        input.values[i] = 1.0;
    }
    let k = kernel("[[1]]");
    let output = convolve::convolve(None, &input, &k, 1, 0).unwrap();
    let picture = lenet_gpu::viz::convolved::draw(&input, &output, &k, 1, 0).unwrap();
    let image = image::load_from_memory(&picture.png().unwrap()).unwrap().to_rgb8();
    let squares = white_squares(&image);
    let px = lenet_gpu::viz::convolved::scale(&input) as u32;
    assert!(px >= 12, "a 10x10 input is enlarged: {px} pixels a pixel");
    assert_eq!(squares.len(), 2, "the square in the input and in the result: {squares:?}");
    assert!(squares.iter().all(|s| (s.2, s.3) == (2 * px, 2 * px)), "one scale: {squares:?} at {px}");
    assert_eq!(squares[0].1, squares[1].1, "side by side");
    // The caption is under both images: dark text in the rows below them.
    let bottom = squares[0].1 + 6 * px + 1;
    let text_rows = (bottom..image.height())
        .filter(|&y| (0..image.width()).any(|x| image.get_pixel(x, y).0[0] < 100))
        .count();
    assert!(text_rows >= 16, "{text_rows} rows of text under the images");

    // A 3x3 kernel without padding: the result is smaller than the input by 2 pixels a side.
    let small = convolve::convolve(None, &input, &kernel("neighbours"), 1, 0).unwrap();
    assert_eq!((small.width, small.height), (8, 8));

    // Through the CLI.
    let dir = TempDir::new("convolve-caption");
    let asset = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/0-gray.png");
    let out = dir.join("figure.png");
    let args =
        ["convolve", asset.to_str().unwrap(), "--kernel", "neighbours", "--device", "cpu", "--caption"];
    let run = run_lenet(&[&args[..], &["--out", out.to_str().unwrap()]].concat(), |_| {});
    assert!(run.success(), "{}{}", run.stdout, run.stderr);
    let (w, h) = image::image_dimensions(&asset).unwrap();
    let figure = image::open(&out).unwrap();
    assert!(figure.width() > 2 * (w - 2) && figure.height() > h, "{}x{}", figure.width(), figure.height());
    assert_eq!(figure.color(), image::ColorType::Rgb8);
}
