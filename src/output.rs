//! Writing what a run produces (checkpoints, pictures, CSV, JSON) without ever leaving half a
//! file or clobbering what a path points at, and checking beforehand that it can be written.
//!
//! - `-` is standard output, as command-line tools take it.
//! - A regular file (or a new one) is written atomically: the bytes go to a temporary file in the
//!   same directory, which is synced and renamed into place.
//! - A symbolic link is written through: the file it points to is replaced (the link stays), or
//!   created if it does not exist yet.
//! - Anything else that exists (a device such as `/dev/null`, a FIFO, a terminal) is written in
//!   place: there is nothing to rename over.
//!
//! `probe` checks a path the way a write will use it, by really creating what the write would
//! create (and removing it again), so a run can refuse an output it could not write before it
//! spends any time.

use crate::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why a path cannot be written.
#[derive(Debug)]
pub enum Unwritable {
    /// The path is a directory.
    IsDirectory,
    /// Its directory does not exist.
    MissingDirectory(PathBuf),
    /// What should be its directory is a file.
    NotADirectory(PathBuf),
    /// A name ending in another extension than the format written there (`expected`, e.g. "png").
    WrongExtension { expected: &'static str },
    /// Creating a file there failed (a read-only file system, a path under /proc, ...).
    Io(std::io::Error),
}

impl std::fmt::Display for Unwritable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unwritable::IsDirectory => write!(f, "it is a directory"),
            Unwritable::MissingDirectory(dir) => write!(f, "the directory {} does not exist", dir.display()),
            Unwritable::NotADirectory(dir) => write!(f, "{} is a file, not a directory", dir.display()),
            Unwritable::WrongExtension { expected } => {
                write!(
                    f,
                    "the file written there is {}: give a name ending in .{expected}",
                    format_name(expected)
                )
            }
            Unwritable::Io(e) => write!(f, "a file cannot be created there ({e})"),
        }
    }
}

fn format_name(extension: &str) -> String {
    match extension {
        "png" => "a PNG picture".into(),
        "csv" => "CSV text".into(),
        "json" => "JSON".into(),
        "safetensors" => "a safetensors checkpoint (not PyTorch's pickle format)".into(),
        other => format!("a .{other} file"),
    }
}

/// Whether `path` stands for standard output (`-`).
pub fn is_stdout(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Where the bytes for a path really go.
enum Target {
    /// An existing file that is not a regular one (a device, a FIFO): written in place.
    InPlace,
    /// A regular file, existing or not, reached through any links: written atomically here.
    File(PathBuf),
}

/// Follows `path` to what a write replaces or creates.
fn resolve(path: &Path) -> std::result::Result<Target, Unwritable> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Err(Unwritable::IsDirectory),
        Ok(m) if m.is_file() => match std::fs::symlink_metadata(path) {
            Ok(link) if link.file_type().is_symlink() => {
                std::fs::canonicalize(path).map(Target::File).map_err(|e| classify(path, e))
            }
            _ => Ok(Target::File(path.to_path_buf())),
        },
        Ok(_) => Ok(Target::InPlace),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Target::File(dangling_target(path))),
        Err(e) => Err(classify(path, e)),
    }
}

/// What a chain of links ending nowhere points at (the path itself when it is no link): the
/// file a write creates.
fn dangling_target(path: &Path) -> PathBuf {
    let mut current = path.to_path_buf();
    for _ in 0..40 {
        let Ok(target) = std::fs::read_link(&current) else { return current };
        current = match current.parent() {
            Some(dir) if target.is_relative() => dir.join(target),
            _ => target,
        };
    }
    current
}

/// An error creating `path`, said in terms of its directory where that is what is wrong.
fn classify(path: &Path, e: std::io::Error) -> Unwritable {
    if e.kind() == std::io::ErrorKind::IsADirectory {
        return Unwritable::IsDirectory;
    }
    let dir = directory_of(path);
    match std::fs::metadata(dir) {
        Ok(m) if !m.is_dir() => Unwritable::NotADirectory(dir.to_path_buf()),
        Err(_) if std::fs::symlink_metadata(dir).is_err() => Unwritable::MissingDirectory(dir.to_path_buf()),
        _ => Unwritable::Io(e),
    }
}

fn directory_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// The temporary sibling a write to `file` goes through.
fn temporary(file: &Path) -> std::result::Result<PathBuf, Unwritable> {
    let name = file.file_name().ok_or(Unwritable::IsDirectory)?;
    Ok(directory_of(file).join(format!(".{}.tmp-{}", name.to_string_lossy(), process_id())))
}

fn process_id() -> u32 {
    #[cfg(not(target_arch = "wasm32"))]
    return std::process::id();
    #[cfg(target_arch = "wasm32")]
    0
}

/// Checks that `path` can be written as `write_atomically` writes it: by creating the file (when
/// it does not exist) and the temporary file beside it, then removing them. Standard output and
/// existing devices pass. Nothing that existed is touched.
pub fn probe(path: &Path) -> std::result::Result<(), Unwritable> {
    if is_stdout(path) {
        return Ok(());
    }
    let Target::File(file) = resolve(path)? else { return Ok(()) };
    let create = |p: &Path| {
        std::fs::OpenOptions::new().write(true).create_new(true).open(p).map_err(|e| classify(p, e))?;
        let _ = std::fs::remove_file(p);
        Ok(())
    };
    if std::fs::symlink_metadata(&file).is_err() {
        create(&file)?;
    }
    create(&temporary(&file)?)
}

/// Checks that the files `names` can be written in the directory `dir` as `write_atomically`
/// writes them (see `probe`). A `dir` that does not exist yet is created for the check (its parent
/// must exist, as `create_directory` will need) and removed again. On failure, the path at fault.
pub fn probe_directory(dir: &Path, names: &[String]) -> std::result::Result<(), (PathBuf, Unwritable)> {
    let created = match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => false,
        Ok(_) => return Err((dir.to_path_buf(), Unwritable::NotADirectory(dir.to_path_buf()))),
        Err(_) => {
            std::fs::create_dir(dir).map_err(|e| (dir.to_path_buf(), classify(dir, e)))?;
            true
        }
    };
    let probed = names.iter().try_for_each(|name| {
        let path = dir.join(name);
        probe(&path).map_err(|problem| (path, problem))
    });
    if created {
        let _ = std::fs::remove_dir(dir);
    }
    probed
}

/// Creates the directory `dir` unless it exists (its parent must).
pub fn create_directory(dir: &Path) -> Result<()> {
    match std::fs::create_dir(dir) {
        Err(e) if !(e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir()) => Err(Error::io(dir, e)),
        _ => Ok(()),
    }
}

/// Checks that `path` ends in `.expected` (any case), or has no extension (`-`, `/dev/stdout`).
pub fn check_extension(path: &Path, expected: &'static str) -> std::result::Result<(), Unwritable> {
    match path.extension() {
        Some(ext) if !ext.eq_ignore_ascii_case(expected) => Err(Unwritable::WrongExtension { expected }),
        _ => Ok(()),
    }
}

/// Writes `bytes` to `path` (see the module's comment: `-`, links and devices): a crash leaves
/// either the old file or the new one, never half of one.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    if is_stdout(path) {
        let mut out = std::io::stdout().lock();
        return out.write_all(bytes).and_then(|()| out.flush()).map_err(|e| Error::io(path, e));
    }
    let unwritable = |problem: Unwritable| match problem {
        Unwritable::Io(e) => Error::io(path, e),
        Unwritable::IsDirectory => Error::io(path, std::io::ErrorKind::IsADirectory.into()),
        other => Error::bad_data(path, other.to_string()),
    };
    let file = match resolve(path).map_err(unwritable)? {
        Target::InPlace => {
            let mut f = std::fs::OpenOptions::new().write(true).open(path).map_err(|e| Error::io(path, e))?;
            return f.write_all(bytes).and_then(|()| f.flush()).map_err(|e| Error::io(path, e));
        }
        Target::File(file) => file,
    };
    let tmp = temporary(&file).map_err(unwritable)?;
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &file)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })?;
    if let Some(name) = file.file_name() {
        remove_stale_temporaries(directory_of(&file), &name.to_string_lossy());
    }
    Ok(())
}

/// Starts a file that grows as a run goes (a log): `first` written as `write_atomically` writes
/// it, then a writer that appends to it. Standard output and devices are opened once and written
/// in place (a FIFO's reader sees one stream).
pub fn start_log(path: &Path, first: &[u8]) -> Result<Box<dyn Write>> {
    if is_stdout(path) {
        let mut out = std::io::stdout();
        out.write_all(first).and_then(|()| out.flush()).map_err(|e| Error::io(path, e))?;
        return Ok(Box::new(out));
    }
    if let Ok(Target::InPlace) = resolve(path) {
        let mut f = std::fs::OpenOptions::new().write(true).open(path).map_err(|e| Error::io(path, e))?;
        f.write_all(first).and_then(|()| f.flush()).map_err(|e| Error::io(path, e))?;
        return Ok(Box::new(f));
    }
    write_atomically(path, first)?;
    let f = std::fs::OpenOptions::new().append(true).open(path).map_err(|e| Error::io(path, e))?;
    Ok(Box::new(f))
}

/// Removes the temporary files of `name` that processes killed mid-write (SIGKILL, power
/// loss) left in `dir`: those whose process no longer runs. Only where that can be told (Linux's
/// /proc); elsewhere they stay, hidden and harmless.
fn remove_stale_temporaries(dir: &Path, name: &str) {
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return;
    }
    let prefix = format!(".{name}.tmp-");
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(pid) = file.to_str().and_then(|f| f.strip_prefix(&prefix)) else { continue };
        if pid.parse::<u32>().is_ok() && !proc.join(pid).exists() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}
