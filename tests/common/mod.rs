//! Helpers shared by the integration tests: the shared MNIST copy, temporary directories, small
//! IDX files built in memory, the one bounded runner of the `lenet` binary (`lenet_command`,
//! `run_lenet`, `run_bounded`; `sandbox::Sandbox` with `Run::error_line`), and the finite-difference
//! gradient check (`gradcheck`).
#![allow(dead_code)] // each test crate uses its own subset

pub mod gradcheck;
pub mod sandbox;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The shared MNIST copy (`../shared/data/mnist` from the crate root), if its four files are
/// there. When absent, prints a visible skip message and returns None, unless
/// `LENET_REQUIRE_MNIST=1`, in which case the absence is a test failure.
pub fn shared_mnist_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist");
    if lenet_gpu::data::mnist::files_present(&dir) {
        return Some(dir);
    }
    let required = std::env::var("LENET_REQUIRE_MNIST").is_ok_and(|v| v == "1");
    assert!(!required, "LENET_REQUIRE_MNIST=1 but MNIST was not found in {}", dir.display());
    // Straight to stderr: the test harness captures eprintln! output of passing tests.
    let _ = writeln!(
        std::io::stderr(),
        "skipping: MNIST not found in {} (set LENET_REQUIRE_MNIST=1 to make this fail)",
        dir.display()
    );
    None
}

/// A fresh directory under the system temp dir, removed (with its contents) on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("lenet-test-{}-{n}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Names of the entries in the directory, sorted (hidden ones included).
    pub fn entries(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .map(|rd| {
                rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An IDX image file: magic 0x803, then n, rows, cols, then `pixels` (not checked against them,
/// so tests can build inconsistent files).
pub fn idx_images(n: u32, rows: u32, cols: u32, pixels: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for word in [0x803, n, rows, cols] {
        out.extend(word.to_be_bytes());
    }
    out.extend(pixels);
    out
}

/// An IDX label file: magic 0x801, then n, then `labels`.
pub fn idx_labels(n: u32, labels: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for word in [0x801, n] {
        out.extend(word.to_be_bytes());
    }
    out.extend(labels);
    out
}

/// `n` consistent images of `side`x`side` with pixel values from their index.
pub fn images_of(n: u32, side: u32) -> Vec<u8> {
    let len = (n * side * side) as usize;
    idx_images(n, side, side, &(0..len).map(|i| (i * 7 % 256) as u8).collect::<Vec<_>>())
}

/// `n` consistent labels cycling 0..9.
pub fn labels_of(n: u32) -> Vec<u8> {
    idx_labels(n, &(0..n).map(|i| (i % 10) as u8).collect::<Vec<_>>())
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).expect("gzip in memory");
    enc.finish().expect("gzip in memory")
}

pub fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

/// MD5 of `bytes` in lowercase hex.
pub fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest;
    md5::Md5::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// A GPU to test on (any adapter, software ones such as lavapipe included): the best one of the
/// backends `WGPU_BACKEND` names (`vulkan`, `gl`, …; every backend when unset, and then a native
/// API before GL), as `--device gpu` and the sessions the tests open choose it. The first call in
/// a test binary names the adapter and its backend on stderr, and an adapter of a backend
/// `WGPU_BACKEND` does not name is a failure, so a run meant for GL cannot pass on Vulkan. When
/// there is none, prints a visible skip message and returns None, unless `LENET_REQUIRE_GPU=1`
/// (as in CI), in which case the absence is a test failure.
pub fn gpu() -> Option<lenet_gpu::gpu::Gpu> {
    match lenet_gpu::gpu::Gpu::open(lenet_gpu::gpu::DeviceChoice::Gpu) {
        Ok(Some(gpu)) => {
            let asked = std::env::var("WGPU_BACKEND").ok();
            if let Some(backends) = wgpu::Backends::from_env() {
                assert!(
                    backends.contains(gpu.info.backend.into()),
                    "WGPU_BACKEND={} but the GPU opened is {}",
                    asked.as_deref().unwrap_or_default(),
                    gpu.name()
                );
            }
            static NAMED: std::sync::Once = std::sync::Once::new();
            NAMED.call_once(|| {
                let asked = asked.map(|b| format!(" (WGPU_BACKEND={b})")).unwrap_or_default();
                // Straight to stderr (the test harness captures eprintln! output of passing
                // tests), in one write, so that CI can count these lines.
                let line = format!("GPU tests run on {}{asked}\n", gpu.name());
                let _ = std::io::stderr().write_all(line.as_bytes());
            });
            Some(gpu)
        }
        other => {
            let why = match other {
                Err(e) => e.to_string(),
                _ => "no adapter".to_string(),
            };
            let required = std::env::var("LENET_REQUIRE_GPU").is_ok_and(|v| v == "1");
            assert!(!required, "LENET_REQUIRE_GPU=1 but no GPU adapter could be opened: {why}");
            let _ = writeln!(
                std::io::stderr(),
                "skipping: no GPU adapter ({why}); set LENET_REQUIRE_GPU=1 to make this fail"
            );
            None
        }
    }
}

/// Far beyond what any `lenet` run in the tests needs: only a hang trips it.
pub const HANG_LIMIT: Duration = Duration::from_secs(180);

/// How a `lenet` run ended, and what it printed.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Whether `lenet` exited with status 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// Fails the test unless `lenet` exited with status 0, showing both streams.
pub fn assert_success(out: &Run) {
    assert!(out.success(), "exit {:?}\nstdout:\n{}\nstderr:\n{}", out.code, out.stdout, out.stderr);
}

/// The `lenet` binary with `args`, stdin closed and stdout and stderr piped, as `run_bounded`
/// wants it; set its directory and environment, then run it with `run_bounded`.
pub fn lenet_command(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lenet"));
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

/// Runs `lenet` with `args` through `run_bounded`, after `setup` has given the command its
/// directory and environment.
pub fn run_lenet(args: &[&str], setup: impl FnOnce(&mut Command)) -> Run {
    let mut cmd = lenet_command(args);
    setup(&mut cmd);
    run_bounded(cmd, args)
}

/// Runs `cmd` (stdout and stderr piped) to completion, reading both pipes as it goes, and kills
/// it (failing the test) if it runs past `HANG_LIMIT`.
pub fn run_bounded(mut cmd: Command, args: &[&str]) -> Run {
    let mut child = cmd.spawn().expect("start lenet");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped stderr")));
    let status = wait_bounded(&mut child, args);
    Run {
        code: status.code(),
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

/// Waits for `child`, killing it (and failing the test) if it runs past `HANG_LIMIT`.
fn wait_bounded(child: &mut Child, args: &[&str]) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait for lenet") {
            return status;
        }
        if start.elapsed() > HANG_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("lenet {args:?} still running after {HANG_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
