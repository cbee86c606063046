//! `lenet predict`'s options, through the CLI as a user types them: `--top K`, `--json` (class
//! names for a Fashion-MNIST model), a directory as input, and `--save-input DIR` (the 28x28
//! images the network saw, checked before any work).

mod common;

use common::Run;
use common::sandbox::Sandbox;
use lenet_gpu::checkpoint;
use lenet_gpu::data::mnist::Collection;
use lenet_gpu::data::preprocess;
use lenet_gpu::model::{Network, Parameters};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// An untrained LeNet-5 saved as `name` in the sandbox, its metadata recording `dataset`.
fn model(sandbox: &Sandbox, name: &str, dataset: Option<&str>) -> String {
    let plan = Network::lenet5().plan().unwrap();
    let metadata: HashMap<String, String> =
        dataset.map(|d| ("dataset".to_string(), d.to_string())).into_iter().collect();
    let path = sandbox.path(name);
    checkpoint::save(Path::new(&path), &Parameters::init(&plan, 3), metadata).unwrap();
    path
}

fn asset(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets").join(name)
}

fn predict(sandbox: &Sandbox, model: &str, args: &[&str]) -> Run {
    sandbox.run(&[&["predict", "--device", "cpu", "--model", model], args].concat())
}

/// "name: c (p%), c (p%), ..." → the (class, percent) pairs.
fn ranked(line: &str, name: &str) -> Vec<(String, f64)> {
    let rest = line.strip_prefix(&format!("{name}: ")).unwrap_or_else(|| panic!("{line:?} for {name}"));
    rest.split(", ")
        .map(|item| {
            let (class, pct) = item.rsplit_once(" (").unwrap_or_else(|| panic!("{item:?} in {line:?}"));
            (class.to_string(), pct.strip_suffix("%)").unwrap().parse().unwrap())
        })
        .collect()
}

#[test]
fn top_k_prints_k_classes_most_probable_first_and_k_outside_1_to_10_is_refused() {
    let sandbox = Sandbox::new("predict-top");
    let model = model(&sandbox, "m.safetensors", None);
    let image = asset("7-tall.png");
    let image = image.to_str().unwrap();
    for (args, k) in [(&[][..], 3), (&["--top", "1"][..], 1), (&["--top", "10"][..], 10)] {
        let run = predict(&sandbox, &model, &[&[image][..], args].concat());
        assert!(run.success(), "{args:?}: {}", run.stderr);
        let top = ranked(run.stdout.trim_end(), image);
        assert_eq!(top.len(), k, "{args:?}: {}", run.stdout);
        assert!(top.windows(2).all(|w| w[0].1 >= w[1].1), "descending: {}", run.stdout);
        if k == 10 {
            let mut classes: Vec<&str> = top.iter().map(|(c, _)| c.as_str()).collect();
            classes.sort();
            assert_eq!(classes, ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
            let sum: f64 = top.iter().map(|t| t.1).sum();
            assert!((sum - 100.0).abs() < 0.6, "all ten sum to 100%: {sum}");
        }
    }
    for k in ["0", "11"] {
        let run = predict(&sandbox, &model, &[image, "--top", k]);
        let line = run.error_line(2, &format!("--top {k}"));
        assert_eq!(line, format!("error: invalid value '{k}' for '--top <K>': {k} is not in 1..=10"));
    }
}

#[test]
fn json_gives_one_object_per_image_with_class_names_for_a_fashion_model() {
    let sandbox = Sandbox::new("predict-json");
    let images = [asset("3-light-on-dark.png"), asset("0-gray.png")];
    let images: Vec<&str> = images.iter().map(|p| p.to_str().unwrap()).collect();
    for (dataset, names) in [(None, false), (Some("mnist"), false), (Some("fashion-mnist"), true)] {
        let model = model(&sandbox, "m.safetensors", dataset);
        let text = predict(&sandbox, &model, &[&images[..], &["--top", "4"]].concat());
        let run = predict(&sandbox, &model, &[&images[..], &["--top", "4", "--json"]].concat());
        assert!(run.success(), "{dataset:?}: {}", run.stderr);
        let lines: Vec<&str> = run.stdout.lines().collect();
        assert_eq!(lines.len(), 2, "one line per image:\n{}", run.stdout);
        for ((line, image), plain) in lines.iter().zip(&images).zip(text.stdout.lines()) {
            let object: serde_json::Value = serde_json::from_str(line).unwrap();
            let keys: Vec<&String> = object.as_object().unwrap().keys().collect();
            assert_eq!(keys, ["file", "top"], "{line}");
            assert_eq!(object["file"], *image);
            let top = object["top"].as_array().unwrap();
            assert_eq!(top.len(), 4, "{line}");
            // The same classes and probabilities as the text, with more digits.
            let plain = ranked(plain, image);
            let mut previous = 1.0;
            for (entry, (class, pct)) in top.iter().zip(&plain) {
                let c = entry["class"].as_u64().unwrap() as usize;
                let p = entry["probability"].as_f64().unwrap();
                assert!(p <= previous && p > 0.0, "descending probabilities: {line}");
                previous = p;
                assert!((100.0 * p - pct).abs() <= 0.051, "{line} against {plain:?}");
                let named = Collection::FashionMnist.class_name(c);
                assert_eq!(class, &if names { named.clone() } else { c.to_string() });
                match names {
                    true => assert_eq!(entry["name"], named.as_str(), "{line}"),
                    false => assert!(entry.get("name").is_none(), "digits have no names: {line}"),
                }
            }
        }
    }
}

#[test]
fn a_directory_reads_its_image_files_sorted_and_notes_what_it_skips() {
    let sandbox = Sandbox::new("predict-dir");
    let model = model(&sandbox, "m.safetensors", None);
    let dir = sandbox.work.join("digits");
    std::fs::create_dir_all(dir.join("more")).unwrap();
    for (from, to) in [("7-tall.png", "b.png"), ("0-gray.png", "a.png"), ("3-light-on-dark.png", "c.PNG")] {
        std::fs::copy(asset(from), dir.join(to)).unwrap();
    }
    std::fs::copy(asset("1-gray16.png"), dir.join(".hidden.png")).unwrap();
    common::write(&dir.join("notes.txt"), b"not a picture");
    let run = predict(&sandbox, &model, &["digits"]);
    assert!(run.success(), "{}", run.stderr);
    let names: Vec<&str> = run.stdout.lines().map(|l| l.split_once(": ").unwrap().0).collect();
    assert_eq!(names, ["digits/a.png", "digits/b.png", "digits/c.PNG"], "sorted, hidden left out");
    let notes: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with("note: ")).collect();
    assert_eq!(
        notes,
        ["note: digits: skipping 2 entries, not PNG, JPEG, BMP or GIF files: more/, notes.txt"],
        "{}",
        run.stderr
    );
    // A directory among files, its images in its place.
    let seven = asset("7-tall.png");
    let run = predict(&sandbox, &model, &[seven.to_str().unwrap(), "digits", "digits/a.png"]);
    assert!(run.success(), "{}", run.stderr);
    let names: Vec<&str> = run.stdout.lines().map(|l| l.split_once(": ").unwrap().0).collect();
    assert_eq!(
        names,
        [seven.to_str().unwrap(), "digits/a.png", "digits/b.png", "digits/c.PNG", "digits/a.png"]
    );

    // A directory without images is an error naming it and what it holds; the other inputs are
    // still classified, and the exit status says something failed.
    let run = predict(&sandbox, &model, &["digits/more", "digits/a.png"]);
    let line = run.error_line(1, "a directory without images");
    assert_eq!(line, "error: digits/more: no PNG, JPEG, BMP or GIF files here (it is empty)");
    assert_eq!(run.stdout.lines().count(), 1, "{}", run.stdout);
    std::fs::remove_dir(dir.join("more")).unwrap();
    std::fs::remove_file(dir.join("a.png")).unwrap();
    std::fs::remove_file(dir.join("b.png")).unwrap();
    std::fs::remove_file(dir.join("c.PNG")).unwrap();
    let run = predict(&sandbox, &model, &["digits"]);
    let line = run.error_line(1, "a directory of other files");
    assert_eq!(
        line,
        "error: digits: no PNG, JPEG, BMP or GIF files here (it holds 1 other entry: notes.txt)"
    );
}

/// A PNG's 8-bit gray pixels, checked to be 28x28.
fn gray_28x28(path: &Path) -> Vec<u8> {
    let image = image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(image.color(), image::ColorType::L8, "{}", path.display());
    assert_eq!((image.width(), image.height()), (28, 28), "{}", path.display());
    image.into_luma8().into_raw()
}

#[test]
fn ink_that_is_not_the_digit_is_left_out_with_a_note() {
    let sandbox = Sandbox::new("predict-stray-ink");
    let model = model(&sandbox, "m.safetensors", None);
    // The sample 7 on a page twice its size, inside a frame that runs off the left edge.
    let seven = image::open(asset("7-tall.png")).unwrap().to_luma8();
    let (w, h) = (seven.width() * 2, seven.height() * 2);
    let page = image::GrayImage::from_fn(w, h, |x, y| {
        let (ix, iy) = (x.wrapping_sub(w / 4), y.wrapping_sub(h / 4));
        let frame = x < w - 6 && y > 5 && y < h - 6 && (x < 3 || x >= w - 9 || y < 9 || y >= h - 9);
        match seven.get_pixel_checked(ix, iy) {
            _ if frame => image::Luma([0]),
            Some(p) => *p,
            None => image::Luma([255]),
        }
    });
    page.save(sandbox.work.join("boxed.png")).unwrap();
    let plain = asset("7-tall.png");
    let run = predict(&sandbox, &model, &["boxed.png", plain.to_str().unwrap(), "--save-input", "seen"]);
    assert!(run.success(), "{}", run.stderr);
    let notes: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with("note:")).collect();
    assert_eq!(
        notes,
        ["note: boxed.png: left out ink touching the picture's edge (1 piece), not part of the digit"],
        "{}",
        run.stderr
    );
    // The network saw the 7 alone.
    let seen = sandbox.work.join("seen");
    assert_eq!(gray_28x28(&seen.join("boxed.png")), gray_28x28(&seen.join("7-tall.png")));
}

#[test]
fn save_input_writes_the_28x28_image_the_network_saw_named_after_each_file() {
    let sandbox = Sandbox::new("predict-save-input");
    let model = model(&sandbox, "m.safetensors", None);
    let jpeg = sandbox.work.join("nine.jpg");
    image::open(asset("9-red-ink.png")).unwrap().to_rgb8().save(&jpeg).unwrap();
    let files = [asset("4-rgb-off-center.png"), asset("6-large.png")];
    let mut args: Vec<&str> = files.iter().map(|p| p.to_str().unwrap()).collect();
    args.extend(["nine.jpg", "--save-input", "seen", "--json"]);
    let run = predict(&sandbox, &model, &args);
    assert!(run.success(), "{}", run.stderr);
    // Made when missing; each file's image under its own name, with .png.
    let seen = sandbox.work.join("seen");
    let mut written: Vec<String> =
        std::fs::read_dir(&seen).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    written.sort();
    assert_eq!(written, ["4-rgb-off-center.png", "6-large.png", "nine.png"]);
    for (file, name) in [(files[0].clone(), "4-rgb-off-center.png"), (jpeg, "nine.png")] {
        assert_eq!(gray_28x28(&seen.join(name)), preprocess::load(&file).unwrap(), "{name}");
    }
    assert!(
        run.stderr.contains(
            "wrote the 28x28 images the network saw to seen: 4-rgb-off-center.png, 6-large.png, nine.png"
        ),
        "{}",
        run.stderr
    );
    // --json says where each went.
    for line in run.stdout.lines() {
        let object: serde_json::Value = serde_json::from_str(line).unwrap();
        let file = object["file"].as_str().unwrap();
        let stem = Path::new(file).file_stem().unwrap().to_str().unwrap();
        assert_eq!(object["input"], format!("seen/{stem}.png"), "{line}");
    }

    // Checked before any work: two files that would share a name, a file in the directory's
    // place, a directory that cannot be made. Nothing is predicted, and nothing is left.
    let other = sandbox.work.join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::copy(asset("0-gray.png"), other.join("nine.png")).unwrap();
    let run = predict(&sandbox, &model, &["nine.jpg", "other/nine.png", "--save-input", "seen2"]);
    let line = run.error_line(1, "two files of one name");
    assert_eq!(
        line,
        "error: cannot write the 28x28 images in seen2: nine.jpg and other/nine.png would both be nine.png: give files of different names"
    );
    let run = predict(&sandbox, &model, &["nine.jpg", "--save-input", "m.safetensors"]);
    let line = run.error_line(1, "a file in the directory's place");
    assert_eq!(line, "error: cannot write the 28x28 images in m.safetensors: it is a file, not a directory");
    let run = predict(&sandbox, &model, &["nine.jpg", "--save-input", "/proc/seen"]);
    let line = run.error_line(1, "a directory that cannot be made");
    assert!(line.starts_with("error: cannot write the 28x28 images in /proc/seen: "), "{line}");
    // A model that is not there: the directory made for the check is gone again.
    let run = predict(&sandbox, "absent.safetensors", &["nine.jpg", "--save-input", "seen3"]);
    run.error_line(1, "an absent model");
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    let mut entries = sandbox.work.entries();
    entries.retain(|e| e.starts_with("seen"));
    assert_eq!(entries, ["seen"], "nothing left by the refused runs");
    // A file given twice is written once.
    let run = predict(&sandbox, &model, &["nine.jpg", "nine.jpg", "--save-input", "seen"]);
    assert!(run.success(), "{}", run.stderr);
    assert_eq!(run.stdout.lines().count(), 2);
}
