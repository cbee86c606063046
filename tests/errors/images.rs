//! Bad image files (`predict`, `convolve`): each named, with what is wrong with it; and the
//! unusual but good ones (16-bit gray, RGBA) read.

use super::{Case, Sandbox, check};
use crate::common::{TempDir, write};
use lenet_gpu::checkpoint;
use lenet_gpu::model::{Network, Parameters};
use std::collections::HashMap;

/// A PNG by hand, for sizes no encoder writes: the signature, an IHDR chunk claiming
/// `width`x`height` 8-bit gray, an IDAT of no pixels, and an IEND.
fn png_header_only(width: u32, height: u32) -> Vec<u8> {
    let chunk = |kind: &[u8], data: &[u8]| {
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        let mut out = (data.len() as u32).to_be_bytes().to_vec();
        out.extend(kind);
        out.extend(data);
        out.extend(crc.sum().to_be_bytes());
        out
    };
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([8, 0, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(chunk(b"IHDR", &ihdr));
    png.extend(chunk(b"IDAT", &[0x78, 0x9c, 0x03, 0, 0, 0, 0, 1]));
    png.extend(chunk(b"IEND", &[]));
    png
}

/// A digit-like bar on a plain background.
fn bar(x: u32, y: u32) -> bool {
    (12..18).contains(&x) && (6..34).contains(&y)
}

#[test]
fn bad_image_files_are_named_and_16_bit_and_rgba_pngs_work() {
    let files = TempDir::new("bad-images");
    let model = files.join("lenet.safetensors");
    let plan = Network::lenet5().plan().unwrap();
    checkpoint::save(&model, &Parameters::init(&plan, 1), HashMap::new()).unwrap();
    let model = model.to_str().unwrap();

    // Good files first: 16-bit gray, and RGBA with the ink only in the alpha channel.
    let gray16 = files.join("gray16.png");
    image::ImageBuffer::from_fn(40, 40, |x, y| image::Luma([if bar(x, y) { 0u16 } else { 65535 }]))
        .save(&gray16)
        .unwrap();
    let rgba = files.join("rgba.png");
    image::ImageBuffer::from_fn(40, 40, |x, y| image::Rgba([0u8, 0, 0, if bar(x, y) { 255 } else { 0 }]))
        .save(&rgba)
        .unwrap();
    let sandbox = Sandbox::new("good-images");
    let run = sandbox.run(&[
        "predict",
        "--device",
        "cpu",
        "--model",
        model,
        gray16.to_str().unwrap(),
        rgba.to_str().unwrap(),
    ]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.stdout.lines().count(), 2, "a line per image:\n{}", run.stdout);

    let path = |name: &str, bytes: &[u8]| {
        let p = files.join(name);
        write(&p, bytes);
        p.to_str().unwrap().to_string()
    };
    let not_image = path("notes.png", b"hello, this is not a picture\n");
    let empty = path("empty.png", b"");
    let zero = path("zero.png", &png_header_only(0, 0));
    let huge = path("huge.png", &png_header_only(20_000, 20_000));
    let mut truncated = std::fs::read(&gray16).unwrap();
    truncated.truncate(60);
    let truncated = path("truncated.png", &truncated);
    let blank = files.join("blank.png");
    image::ImageBuffer::from_pixel(30, 30, image::Luma([255u8])).save(&blank).unwrap();
    let blank = blank.to_str().unwrap().to_string();
    let dir = files.path().to_str().unwrap().to_string();
    let predict = |image: &str| {
        vec!["predict", "--device", "cpu", "--model", model, image]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>()
    };
    let row = |what, image: &str, words: &[&'static str]| Case {
        what,
        args: predict(image),
        code: 1,
        names: image.to_string(),
        words: words.to_vec(),
    };
    let mut cases = vec![
        row("not an image", &not_image, &["not an image", "PNG, JPEG, BMP and GIF"]),
        row("an empty file", &empty, &["not an image"]),
        row("0x0 pixels", &zero, &["PNG"]),
        row("20000x20000 pixels", &huge, &["20000x20000", "at most 50 megapixels"]),
        row("a truncated PNG", &truncated, &["truncated"]),
        row("a blank image", &blank, &["blank"]),
    ];
    // predict reads the image files of a directory; one without any is an error naming it.
    let no_images = TempDir::new("no-images");
    write(&no_images.join("notes.txt"), b"no pictures here\n");
    let no_images = no_images.path().to_str().unwrap().to_string();
    cases.push(row(
        "a directory without images",
        &no_images,
        &["no PNG, JPEG, BMP or GIF files here", "notes.txt"],
    ));
    let mut args: Vec<String> =
        ["convolve", "--kernel", "blur", "--device", "cpu", "--out", "{OUT}"].map(String::from).into();
    args.push(dir.clone());
    cases.push(Case {
        what: "convolve of a directory",
        args,
        code: 1,
        names: dir.clone(),
        words: vec!["is a directory"],
    });
    let mut args: Vec<String> =
        ["convolve", "--kernel", "outline", "--device", "cpu", "--out", "{OUT}"].map(String::from).into();
    args.push(huge.clone());
    cases.push(Case {
        what: "convolve of 20000x20000",
        args,
        code: 1,
        names: huge.clone(),
        words: vec!["megapixels"],
    });
    check(&cases);
}
