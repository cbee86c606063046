//! What `lenet predict` reads and what `--save-input` writes: image files as given, a directory
//! as the image files in it (a note names what it skips), and the 28x28 image the network saw
//! for each, as a PNG named after its file.

use super::outputs;
use anyhow::{Result, bail};
use lenet_gpu::data::preprocess::{self, SIDE};
use lenet_gpu::data::{image_files, photo};
use lenet_gpu::output;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// What `--save-input` writes, for messages.
const SAVED: &str = "the 28x28 images";

/// The image files `given` names, in order: a file as it is, a directory as its image files
/// sorted by name (a note on standard error names its other entries); a directory without any
/// image file, in its place, as an error.
pub fn expand(given: &[PathBuf]) -> Vec<lenet_gpu::Result<PathBuf>> {
    let mut files = Vec::new();
    for path in given {
        if !path.is_dir() {
            files.push(Ok(path.clone()));
            continue;
        }
        match image_files::images_in(path) {
            Ok(found) => {
                if !found.skipped.is_empty() {
                    let n = found.skipped.len();
                    eprintln!(
                        "note: {}: skipping {n} {} not PNG, JPEG, BMP or GIF files: {}",
                        path.display(),
                        if n == 1 { "entry," } else { "entries," },
                        image_files::list(&found.skipped, 10)
                    );
                }
                files.extend(found.images.into_iter().map(Ok));
            }
            Err(e) => files.push(Err(e)),
        }
    }
    files
}

/// The name `--save-input` gives the image of `path`: its name with `.png` for its extension.
pub fn saved_name(path: &Path) -> String {
    let stem = path.file_stem().unwrap_or(path.as_os_str());
    format!("{}.png", stem.to_string_lossy())
}

/// Checks, before any work, that the image of every file can be written in `dir` under its own
/// name (two files of one name would overwrite each other; a file given twice is written once).
pub fn check<'a>(dir: &Path, files: impl Iterator<Item = &'a PathBuf>) -> Result<()> {
    let mut seen: HashMap<String, &PathBuf> = HashMap::new();
    for file in files {
        let name = saved_name(file);
        if let Some(first) = seen.insert(name.clone(), file).filter(|&first| first != file) {
            bail!(
                "cannot write {SAVED} in {}: {} and {} would both be {name}: give files of different names",
                dir.display(),
                first.display(),
                file.display()
            );
        }
    }
    let mut names: Vec<String> = seen.into_keys().collect();
    names.sort();
    outputs::check_directory(SAVED, dir, &names)
}

/// Writes each image in `dir` (the network's input bytes: 28x28 gray, or 3x32x32 colour planes),
/// named after its file. A failure is a warning (the predictions
/// printed are the command's result), and the writing stops there.
pub fn save(dir: &Path, read: &[(PathBuf, Vec<u8>)]) {
    let png = |image: &[u8]| match <[u8; SIDE * SIDE]>::try_from(image) {
        Ok(gray) => preprocess::png(&gray),
        Err(_) => photo::png(image),
    };
    let mut written = Vec::new();
    let result = output::create_directory(dir).and_then(|()| {
        read.iter().try_for_each(|(path, image)| {
            let name = saved_name(path);
            if !written.contains(&name) {
                output::write_atomically(&dir.join(&name), &png(image)?)?;
                written.push(name);
            }
            Ok(())
        })
    });
    if let Err(e) = result {
        let e = anyhow::Error::new(e).context(format!("{SAVED} were not all written"));
        outputs::warn(&e);
    }
    if !written.is_empty() {
        eprintln!("wrote {SAVED} the network saw to {}: {}", dir.display(), image_files::list(&written, 5));
    }
}
