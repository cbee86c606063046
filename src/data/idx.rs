//! The IDX file format (MNIST's): a big-endian u32 magic, big-endian u32 dimensions, then raw
//! bytes, row-major. Files may be gzip-compressed as distributed.
//!
//! The parsers are pure functions over bytes and never panic: every length is checked before it
//! is used, and nothing is allocated from a header's claims, only from data actually present.

use std::io::Read;
use std::path::Path;

use crate::error::{Error, Remedy, Result};

/// Magic of an IDX file of unsigned bytes with 3 dimensions (images).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic of an IDX file of unsigned bytes with 1 dimension (labels).
pub const LABELS_MAGIC: u32 = 0x0000_0801;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const IMAGES_HEADER: usize = 16;
const LABELS_HEADER: usize = 8;
/// Largest image side accepted: far above any digit data set, far below what would hint at a
/// garbage header.
const MAX_SIDE: usize = 1024;
/// Cap on decompressed size, so a gzip bomb cannot exhaust memory (MNIST's largest file is 47 MB).
const MAX_DECOMPRESSED: u64 = 1 << 30;

/// Images as parsed: count, rows, columns, and `count * rows * cols` pixel bytes.
pub type Images = (usize, usize, usize, Vec<u8>);

/// Reads a file whole, gunzipping it when it starts with the gzip magic (otherwise it is raw).
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    decompress(std::fs::read(path).map_err(|e| Error::io(path, e))?, path)
}

/// A file's bytes gunzipped when they start with the gzip magic, else as they are (`path`
/// names the file in messages).
pub fn decompress(bytes: Vec<u8>, path: &Path) -> Result<Vec<u8>> {
    if bytes.starts_with(&GZIP_MAGIC) { gunzip(&bytes, path) } else { Ok(bytes) }
}

fn gunzip(compressed: &[u8], path: &Path) -> Result<Vec<u8>> {
    // Multi-member aware: a concatenation of gzip members is a valid gzip file.
    let decoder = flate2::read::MultiGzDecoder::new(compressed);
    let mut out = Vec::new();
    decoder.take(MAX_DECOMPRESSED + 1).read_to_end(&mut out).map_err(|e| {
        Error::bad_data_remedy(path, format!("corrupt or truncated gzip data ({e})"), Remedy::Redownload)
    })?;
    if out.len() as u64 > MAX_DECOMPRESSED {
        return Err(Error::bad_data(
            path,
            format!("gzip data expands to more than {MAX_DECOMPRESSED} bytes; refusing to load it"),
        ));
    }
    Ok(out)
}

/// Parses an IDX image file (magic 0x00000803): returns (count, rows, cols, pixels).
pub fn parse_images(bytes: &[u8], path: &Path) -> Result<Images> {
    check_magic(bytes, IMAGES_MAGIC, path)?;
    let [n, rows, cols] = header::<3>(bytes, "image", path)?;
    if n == 0 {
        return Err(Error::bad_data(path, "IDX image file declares 0 images"));
    }
    if rows == 0 || cols == 0 || rows > MAX_SIDE || cols > MAX_SIDE {
        return Err(Error::bad_data(
            path,
            format!(
                "IDX image file declares images of {rows}x{cols} pixels; each side must be 1 to {MAX_SIDE}"
            ),
        ));
    }
    let what = format!("{n} images of {rows}x{cols}");
    let expected = n.checked_mul(rows).and_then(|x| x.checked_mul(cols));
    let data = payload(bytes, IMAGES_HEADER, expected, &what, path)?;
    Ok((n, rows, cols, data.to_vec()))
}

/// Parses an IDX label file (magic 0x00000801) whose labels are all digits 0..9.
pub fn parse_labels(bytes: &[u8], path: &Path) -> Result<Vec<u8>> {
    check_magic(bytes, LABELS_MAGIC, path)?;
    let [n] = header::<1>(bytes, "label", path)?;
    if n == 0 {
        return Err(Error::bad_data(path, "IDX label file declares 0 labels"));
    }
    let data = payload(bytes, LABELS_HEADER, Some(n), &format!("{n} labels"), path)?;
    if let Some((i, &label)) = data.iter().enumerate().find(|&(_, &l)| l >= 10) {
        return Err(Error::bad_data(path, format!("label {label} at index {i} is not a digit 0-9")));
    }
    Ok(data.to_vec())
}

/// Reads and parses an IDX image file, gzipped or raw.
pub fn load_images(path: &Path) -> Result<Images> {
    parse_images(&read_file(path)?, path)
}

/// Reads and parses an IDX label file, gzipped or raw.
pub fn load_labels(path: &Path) -> Result<Vec<u8>> {
    parse_labels(&read_file(path)?, path)
}

fn be_u32(bytes: &[u8], offset: usize) -> Option<u32> {
    let word = bytes.get(offset..offset.checked_add(4)?)?;
    Some(u32::from_be_bytes([word[0], word[1], word[2], word[3]]))
}

/// Checks the magic first, so a swapped or foreign file is named as such rather than as a short
/// header.
fn check_magic(bytes: &[u8], expected: u32, path: &Path) -> Result<()> {
    let kind = kind_name(expected);
    let Some(found) = be_u32(bytes, 0) else {
        return Err(Error::bad_data(
            path,
            format!("file is {} bytes long, too short for an IDX {kind} file (no 4-byte magic)", bytes.len()),
        ));
    };
    if found == expected {
        return Ok(());
    }
    Err(Error::bad_data(
        path,
        format!(
            "not an IDX {kind} file: magic is 0x{found:08x}, expected 0x{expected:08x}{}",
            magic_hint(found)
        ),
    ))
}

fn kind_name(magic: u32) -> &'static str {
    if magic == IMAGES_MAGIC { "image" } else { "label" }
}

/// A guess at what the file is instead, to make the error actionable.
fn magic_hint(found: u32) -> &'static str {
    match found {
        IMAGES_MAGIC => " (this is an IDX image file: are the image and label files swapped?)",
        LABELS_MAGIC => " (this is an IDX label file: are the image and label files swapped?)",
        m if m >> 16 == 0x1f8b => " (gzip data: decompress it first)",
        _ => "",
    }
}

/// The header's `N` dimensions (after the magic), as usize.
fn header<const N: usize>(bytes: &[u8], kind: &str, path: &Path) -> Result<[usize; N]> {
    let len = 4 + 4 * N;
    if bytes.len() < len {
        return Err(Error::bad_data(
            path,
            format!("truncated IDX {kind} header: file is {} bytes, the header needs {len}", bytes.len()),
        ));
    }
    // The length was checked just above, so the fallback is never used.
    Ok(std::array::from_fn(|i| be_u32(bytes, 4 + 4 * i).unwrap_or(0) as usize))
}

/// The data after the header, which must be exactly `expected` bytes.
fn payload<'a>(
    bytes: &'a [u8],
    header: usize,
    expected: Option<usize>,
    what: &str,
    path: &Path,
) -> Result<&'a [u8]> {
    let data = bytes.get(header..).unwrap_or_default();
    let Some(expected) = expected else {
        return Err(Error::bad_data(
            path,
            format!("IDX header declares {what}: more bytes than can be addressed"),
        ));
    };
    if data.len() < expected {
        return Err(Error::bad_data_remedy(
            path,
            format!(
                "truncated: header declares {what} ({expected} bytes) but only {} bytes of data follow",
                data.len()
            ),
            Remedy::Redownload,
        ));
    }
    if data.len() > expected {
        return Err(Error::bad_data(
            path,
            format!(
                "{} unexpected trailing bytes after the {what} the header declares",
                data.len() - expected
            ),
        ));
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("x.idx")
    }

    /// Every prefix and every single-byte corruption of a valid file is rejected or accepted
    /// without panicking.
    #[test]
    fn never_panics_on_prefixes_or_byte_flips() {
        let mut file = vec![0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3];
        file.extend(0..12u8);
        for len in 0..=file.len() {
            let _ = parse_images(&file[..len], p());
            let _ = parse_labels(&file[..len], p());
        }
        for i in 0..file.len() {
            for v in [0u8, 1, 0x7f, 0xff] {
                let mut f = file.clone();
                f[i] = v;
                let _ = parse_images(&f, p());
                let _ = parse_labels(&f, p());
            }
        }
        assert!(parse_images(&file, p()).is_ok());
    }

    #[test]
    fn overflowing_dimensions_are_an_error() {
        let file = [0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0, 0, 4, 0, 0, 0, 4, 0];
        let err = parse_images(&file, p()).unwrap_err().to_string();
        assert!(err.contains("x.idx"), "{err}");
    }
}
