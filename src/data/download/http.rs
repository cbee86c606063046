//! Fetching files over HTTP (the `download` feature): each file from the first mirror that
//! serves it with the published MD5.
//!
//! A file is streamed to a temporary name in the target directory and renamed into place only
//! after its MD5 matches, so a crash, a dropped connection or a wrong file never leaves a partial
//! or bad file under the real name (the rename is atomic within one directory).

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use md5::{Digest, Md5};

use super::{RemoteFile, Timeouts, hex};
use crate::error::{Error, Result};

/// No data file we fetch comes near this; it stops a misbehaving server from filling the disk.
const MAX_BODY: u64 = 256 << 20;

/// Fetches every file of `files` not already in `dir` (as NAME, or as NAME without `.gz`), each
/// from the first of `mirrors` that serves it with the right MD5. The error lists, one line per
/// file, which URLs failed and why.
pub fn download(dir: &Path, mirrors: &[String], files: &[RemoteFile], progress: bool) -> Result<()> {
    download_with(dir, mirrors, files, progress, Timeouts::default())
}

/// `download` with other timeouts.
pub fn download_with(
    dir: &Path,
    mirrors: &[String],
    files: &[RemoteFile],
    progress: bool,
    timeouts: Timeouts,
) -> Result<()> {
    fetch(dir, mirrors, files, progress, timeouts).map_err(Failure::into_error)
}

/// Why a download did not complete.
pub(crate) enum Failure {
    /// Writing to the local disk failed: no mirror can help.
    Local(Error),
    /// Some files could not be fetched from any mirror.
    Remote(Vec<FileFailure>),
}

/// One file that no mirror delivered, with each attempt's URL and reason.
pub(crate) struct FileFailure {
    name: &'static str,
    attempts: Vec<Tried>,
}

struct Tried {
    url: String,
    why: String,
    /// Not tried: the mirror was found unreachable on an earlier file.
    skipped: bool,
}

impl Failure {
    /// A few words for a one-line notice: why the first missing file could not be had, with
    /// mirrors that failed the same way grouped ("a, b: host not found").
    pub(crate) fn short_reason(&self) -> String {
        let files = match self {
            Failure::Local(e) => return e.to_string(),
            Failure::Remote(files) => files,
        };
        let Some(first) = files.first().filter(|f| !f.attempts.is_empty()) else {
            return "no mirror configured".to_string();
        };
        let mut groups: Vec<(Vec<&str>, &str)> = Vec::new();
        for attempt in &first.attempts {
            let host = host_of(&attempt.url);
            match groups.iter_mut().find(|(_, why)| *why == attempt.why) {
                Some((hosts, _)) => hosts.push(host),
                None => groups.push((vec![host], &attempt.why)),
            }
        }
        groups
            .iter()
            .map(|(hosts, why)| format!("{}: {why}", hosts.join(", ")))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub(crate) fn into_error(self) -> Error {
        match self {
            Failure::Local(e) => e,
            Failure::Remote(files) => {
                Error::Download(files.iter().map(FileFailure::line).collect::<Vec<_>>().join("\n"))
            }
        }
    }
}

impl FileFailure {
    fn line(&self) -> String {
        if self.attempts.is_empty() {
            return format!("{}: no mirror to try", self.name);
        }
        if self.attempts.iter().all(|a| a.skipped) {
            return format!("{}: not tried, no mirror was reachable", self.name);
        }
        let tries: Vec<String> = self
            .attempts
            .iter()
            .map(|a| {
                if a.skipped {
                    format!("{}: skipped, unreachable", a.url)
                } else {
                    format!("{}: {}", a.url, a.why)
                }
            })
            .collect();
        format!("{}: {}", self.name, tries.join("; "))
    }
}

/// The download, with failures kept structured so callers can summarize them.
pub(crate) fn fetch(
    dir: &Path,
    mirrors: &[String],
    files: &[RemoteFile],
    progress: bool,
    timeouts: Timeouts,
) -> std::result::Result<(), Failure> {
    let agent = agent(timeouts);
    // Why each mirror could not be reached at all, if so: such a mirror is not retried for the
    // following files, so an offline machine pays each connection failure once.
    let mut unreachable: Vec<Option<String>> = vec![None; mirrors.len()];
    let mut failed = Vec::new();
    for file in files.iter().filter(|f| !already_present(dir, f.name)) {
        if let Some(attempts) = try_mirrors(&agent, dir, mirrors, &mut unreachable, file, progress)? {
            failed.push(FileFailure { name: file.name, attempts });
        }
    }
    if failed.is_empty() { Ok(()) } else { Err(Failure::Remote(failed)) }
}

/// Tries each live mirror in turn for one file: None once one delivers it, else the attempts.
fn try_mirrors(
    agent: &ureq::Agent,
    dir: &Path,
    mirrors: &[String],
    unreachable: &mut [Option<String>],
    file: &RemoteFile,
    progress: bool,
) -> std::result::Result<Option<Vec<Tried>>, Failure> {
    let mut attempts = Vec::new();
    for (mirror, dead) in mirrors.iter().zip(unreachable.iter_mut()) {
        let url = join_url(mirror, file.name);
        if let Some(why) = dead {
            attempts.push(Tried { url, why: why.clone(), skipped: true });
            continue;
        }
        match fetch_one(agent, &url, dir, file, progress) {
            Ok(()) => return Ok(None),
            Err(Attempt::Local(e)) => return Err(Failure::Local(e)),
            Err(Attempt::Unreachable(why)) => {
                *dead = Some(why.clone());
                attempts.push(Tried { url, why, skipped: false });
            }
            Err(Attempt::Failed(why)) => attempts.push(Tried { url, why, skipped: false }),
        }
    }
    Ok(Some(attempts))
}

fn agent(timeouts: Timeouts) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_resolve(Some(timeouts.connect))
        .timeout_connect(Some(timeouts.connect))
        .timeout_recv_response(Some(timeouts.response))
        .timeout_per_read(Some(timeouts.stall))
        // The files are already gzip: ask for the bytes as stored, so the MD5 is of those.
        .accept_encoding("identity")
        .build()
        .new_agent()
}

/// A file counts as present under its own name or, for `NAME.gz`, as the unpacked `NAME`. Its
/// content is not re-hashed: the loader validates it, and a recompressed copy of the same data
/// legitimately has another MD5.
fn already_present(dir: &Path, name: &str) -> bool {
    let nonempty = |p: PathBuf| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.len() > 0);
    nonempty(dir.join(name)) || name.strip_suffix(".gz").is_some_and(|raw| nonempty(dir.join(raw)))
}

fn join_url(base: &str, name: &str) -> String {
    format!("{}/{name}", base.trim_end_matches('/'))
}

/// The host part of a URL, for short messages.
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest)
}

/// How one attempt at one URL failed.
enum Attempt {
    /// The local disk: fatal for the whole download.
    Local(Error),
    /// No connection to the server at all: skip this mirror from now on.
    Unreachable(String),
    /// The server answered but not with the right file: try the next mirror.
    Failed(String),
}

fn fetch_one(
    agent: &ureq::Agent,
    url: &str,
    dir: &Path,
    file: &RemoteFile,
    progress: bool,
) -> std::result::Result<(), Attempt> {
    let response = agent.get(url).call().map_err(|e| match e {
        ureq::Error::StatusCode(code) => Attempt::Failed(format!("HTTP status {code}")),
        other => Attempt::Unreachable(describe(&other)),
    })?;
    let (_, body) = response.into_parts();
    let total = body.content_length();
    let reader = body.into_with_config().limit(MAX_BODY).reader();
    std::fs::create_dir_all(dir).map_err(|e| Attempt::Local(Error::io(dir, e)))?;
    let temp = TempFile::create(dir, file.name).map_err(Attempt::Local)?;
    let bar = progress_bar(progress, file.name, total);
    let digest = stream(reader, &temp, &bar)?;
    bar.finish_and_clear();
    if !digest.eq_ignore_ascii_case(file.md5) {
        return Err(Attempt::Failed(format!("MD5 mismatch: got {digest}, expected {}", file.md5)));
    }
    temp.persist(&dir.join(file.name)).map_err(Attempt::Local)
}

/// A short reason for a failed request, in plain words where ureq's are obscure.
fn describe(error: &ureq::Error) -> String {
    match error {
        ureq::Error::HostNotFound => "host not found".to_string(),
        ureq::Error::Timeout(phase) => format!("timed out ({phase})"),
        ureq::Error::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            "connection refused".to_string()
        }
        // getaddrinfo's failure surfaces as a bare I/O error.
        ureq::Error::Io(e) if e.to_string().contains("lookup address") => {
            "cannot resolve the host name (offline?)".to_string()
        }
        ureq::Error::Io(e) => e.to_string(),
        other => other.to_string(),
    }
}

/// Copies the body into the temporary file, hashing as it goes; returns the MD5 in hex.
fn stream(mut reader: impl Read, temp: &TempFile, bar: &ProgressBar) -> std::result::Result<String, Attempt> {
    let mut out = &temp.file;
    let mut hasher = Md5::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut received: u64 = 0;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(Attempt::Failed(format!("transfer failed after {received} bytes: {e}")));
            }
        };
        let chunk = &buf[..n];
        hasher.update(chunk);
        out.write_all(chunk).map_err(|e| Attempt::Local(Error::io(&temp.path, e)))?;
        received += n as u64;
        bar.inc(n as u64);
    }
    out.sync_all().map_err(|e| Attempt::Local(Error::io(&temp.path, e)))?;
    Ok(hex(&hasher.finalize()))
}

fn progress_bar(enabled: bool, name: &str, total: Option<u64>) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let (bar, template) = match total {
        Some(len) => {
            (ProgressBar::new(len), "{msg:28} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
        }
        None => (ProgressBar::new_spinner(), "{msg:28} {spinner} {bytes} {bytes_per_sec}"),
    };
    let style = ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style.progress_chars("=> "));
    bar.set_message(name.to_string());
    bar
}

/// A file under a temporary name that is deleted on drop unless persisted, so every early return
/// (and a panic) cleans it up.
struct TempFile {
    path: PathBuf,
    file: File,
    keep: bool,
}

impl TempFile {
    /// `.NAME.PID.part`: hidden, and private to this process so concurrent downloads into one
    /// directory cannot write into each other's files.
    fn create(dir: &Path, name: &str) -> Result<TempFile> {
        let path = dir.join(format!(".{name}.{}.part", std::process::id()));
        let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
        Ok(TempFile { path, file, keep: false })
    }

    fn persist(mut self, dest: &Path) -> Result<()> {
        std::fs::rename(&self.path, dest).map_err(|e| Error::io(dest, e))?;
        self.keep = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_joining() {
        assert_eq!(join_url("http://a/x/", "f.gz"), "http://a/x/f.gz");
        assert_eq!(join_url("http://a/x", "f.gz"), "http://a/x/f.gz");
        assert_eq!(host_of("https://h.example:8080/a/b"), "h.example:8080");
        assert_eq!(host_of("weird"), "weird");
    }
}
