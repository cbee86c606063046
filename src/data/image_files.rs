//! Image files given as a directory (`lenet predict DIR`): the files in it whose extension names
//! a format [`preprocess::load`](super::preprocess::load) reads, sorted by name, and what else
//! is there. Not recursive; hidden entries (a name starting with `.`) are left out.

use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// The extensions (any case) of the files a directory is read for: the formats
/// `preprocess::load` decodes.
pub const IMAGE_EXTENSIONS: [&str; 5] = ["png", "jpg", "jpeg", "bmp", "gif"];

/// What a directory holds.
#[derive(Clone, Debug, PartialEq)]
pub struct DirectoryImages {
    /// Its image files (by extension), sorted by name.
    pub images: Vec<PathBuf>,
    /// The names of its other entries, sorted; a directory's with a trailing `/`.
    pub skipped: Vec<String>,
}

/// Whether `path`'s extension is one of [`IMAGE_EXTENSIONS`].
pub fn has_image_extension(path: &Path) -> bool {
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or_default();
    IMAGE_EXTENSIONS.iter().any(|e| e.eq_ignore_ascii_case(extension))
}

/// The image files in `dir` and the names of the other entries. A directory without any image
/// file is an error naming it and what it does hold.
pub fn images_in(dir: &Path) -> Result<DirectoryImages> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut images = Vec::new();
    let mut skipped = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        // Through links: a link to an image is an image.
        let metadata = std::fs::metadata(&path);
        if metadata.as_ref().is_ok_and(|m| m.is_file()) && has_image_extension(&path) {
            images.push(path);
        } else if metadata.is_ok_and(|m| m.is_dir()) {
            skipped.push(format!("{}/", name.to_string_lossy()));
        } else {
            skipped.push(name.to_string_lossy().into_owned());
        }
    }
    images.sort();
    skipped.sort();
    if images.is_empty() {
        let held = match skipped.len() {
            0 => "it is empty".to_string(),
            n => format!(
                "it holds {n} other {}: {}",
                if n == 1 { "entry" } else { "entries" },
                list(&skipped, 5)
            ),
        };
        return Err(Error::bad_data(dir, format!("no PNG, JPEG, BMP or GIF files here ({held})")));
    }
    Ok(DirectoryImages { images, skipped })
}

/// The first `at_most` of `names`, comma-separated, and how many more there are.
pub fn list(names: &[String], at_most: usize) -> String {
    let shown = names.iter().take(at_most).cloned().collect::<Vec<_>>().join(", ");
    match names.len().saturating_sub(at_most) {
        0 => shown,
        more => format!("{shown} and {more} more"),
    }
}
