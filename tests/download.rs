//! The downloader against a tiny local HTTP/1.1 server: good files, checksum mismatches, HTTP
//! errors, dropped connections, stalled and silent servers, mirror failover and unreachable
//! mirrors; and `lenet download` taking each data set from its own mirrors, checked against its
//! own MD5 sums.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{Run, TempDir, md5_hex, run_lenet};
use lenet_gpu::data::download::{RemoteFile, Timeouts, download, download_with};

/// What the server answers for one path.
#[derive(Clone)]
enum Reply {
    Ok(Vec<u8>),
    /// Announces the full length but sends only the first half, then closes.
    Truncated(Vec<u8>),
    /// Announces the full length, sends the first half, then holds the connection open,
    /// silent, for this long.
    Stalled(Vec<u8>, Duration),
    /// Reads the request and says nothing at all for this long.
    Silent(Duration),
}

/// A one-thread HTTP/1.1 server on 127.0.0.1 that answers GETs from a fixed table (404 for
/// anything else), one request per connection. It stops after `max_requests` requests or a few
/// seconds, whichever comes first, so a test can never leave it running.
struct Server {
    base: String,
    requests: Arc<Mutex<Vec<String>>>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn start(routes: &[(&str, Reply)], max_requests: usize) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a local port");
        listener.set_nonblocking(true).expect("nonblocking listener");
        let base = format!("http://{}/mnist/", listener.local_addr().expect("local address"));
        let routes: HashMap<String, Reply> =
            routes.iter().map(|(name, reply)| (format!("/mnist/{name}"), reply.clone())).collect();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&requests);
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut served = 0;
            while served < max_requests && Instant::now() < deadline {
                match listener.accept() {
                    Ok((stream, _)) => {
                        served += 1;
                        if let Some(path) = serve(stream, &routes) {
                            log.lock().unwrap().push(path);
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Server { base, requests, thread: Some(thread) }
    }

    /// This server as the only mirror.
    fn mirrors(&self) -> Vec<String> {
        vec![self.base.clone()]
    }

    /// The paths requested so far, after waiting for the server to finish.
    fn finish(mut self) -> Vec<String> {
        if let Some(t) = self.thread.take() {
            t.join().expect("server thread");
        }
        self.requests.lock().unwrap().clone()
    }
}

/// Answers one request; returns its path.
fn serve(stream: TcpStream, routes: &HashMap<String, Reply>) -> Option<String> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    let path = request_line.split_whitespace().nth(1)?.to_string();
    // Skip the headers up to the blank line.
    let mut line = String::new();
    while reader.read_line(&mut line).ok()? > 2 {
        line.clear();
    }
    let mut out = stream;
    let (status, length, body, then_wait): (&str, usize, &[u8], _) = match routes.get(&path) {
        Some(Reply::Ok(body)) => ("200 OK", body.len(), body, None),
        Some(Reply::Truncated(body)) => ("200 OK", body.len(), &body[..body.len() / 2], None),
        Some(Reply::Stalled(body, wait)) => ("200 OK", body.len(), &body[..body.len() / 2], Some(*wait)),
        Some(Reply::Silent(wait)) => {
            std::thread::sleep(*wait);
            return Some(path);
        }
        None => ("404 Not Found", 9, b"not found", None),
    };
    let head = format!("HTTP/1.1 {status}\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n");
    let _ = out.write_all(head.as_bytes()).and_then(|_| out.write_all(body)).and_then(|_| out.flush());
    if let Some(wait) = then_wait {
        std::thread::sleep(wait);
    }
    Some(path)
}

/// Deterministic file content of a given length.
fn content(len: usize, salt: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(salt)).collect()
}

/// A `RemoteFile` whose strings live for the whole test run, as the API wants `&'static str`.
fn remote(name: &str, body: &[u8]) -> RemoteFile {
    RemoteFile {
        name: Box::leak(name.to_string().into_boxed_str()),
        md5: Box::leak(md5_hex(body).into_boxed_str()),
    }
}

/// A base URL on which nothing listens: a port bound once, then freed.
fn closed_port_mirror() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a local port");
    let addr = listener.local_addr().expect("local address");
    drop(listener);
    format!("http://{addr}/mnist/")
}

#[test]
fn good_files_arrive_verified_and_are_not_fetched_twice() {
    let (a, b) = (content(100_000, 1), content(5_000, 2));
    let server = Server::start(&[("a.gz", Reply::Ok(a.clone())), ("b.gz", Reply::Ok(b.clone()))], 2);
    let dir = TempDir::new("dl-good");
    let target = dir.join("nested/dir");
    let files = [remote("a.gz", &a), remote("b.gz", &b)];
    download(&target, &server.mirrors(), &files, false).expect("download succeeds");
    assert_eq!(std::fs::read(target.join("a.gz")).unwrap(), a);
    assert_eq!(std::fs::read(target.join("b.gz")).unwrap(), b);
    assert_eq!(server.finish(), ["/mnist/a.gz", "/mnist/b.gz"]);
    let listing: Vec<_> = std::fs::read_dir(&target).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(listing.len(), 2, "stray files: {listing:?}");
    // Present files are skipped: this works with no server at all.
    download(&target, &[closed_port_mirror()], &files, false).expect("nothing to fetch");
}

#[test]
fn an_unpacked_copy_counts_as_present() {
    let dir = TempDir::new("dl-raw");
    common::write(&dir.join("c"), b"unpacked data");
    download(dir.path(), &[closed_port_mirror()], &[remote("c.gz", b"whatever")], false).expect("skipped");
}

#[test]
fn a_checksum_mismatch_is_rejected_and_leaves_nothing() {
    let served = content(50_000, 3);
    let server = Server::start(&[("a.gz", Reply::Ok(served))], 1);
    let dir = TempDir::new("dl-md5");
    let expected = remote("a.gz", b"the real content");
    let err = download(dir.path(), &server.mirrors(), &[expected], false).unwrap_err().to_string();
    for word in ["a.gz", "MD5 mismatch", expected.md5, &server.base] {
        assert!(err.contains(word), "error lacks {word:?}: {err}");
    }
    assert_eq!(dir.entries(), Vec::<String>::new(), "files left behind");
    server.finish();
}

#[test]
fn a_dropped_connection_leaves_nothing() {
    let body = content(200_000, 4);
    let server = Server::start(&[("a.gz", Reply::Truncated(body.clone()))], 1);
    let dir = TempDir::new("dl-truncated");
    let err = download(dir.path(), &server.mirrors(), &[remote("a.gz", &body)], false).unwrap_err();
    assert!(err.to_string().contains("a.gz"), "{err}");
    assert_eq!(dir.entries(), Vec::<String>::new(), "files left behind");
    server.finish();
}

#[test]
fn a_404_is_reported_with_its_url() {
    let server = Server::start(&[], 1);
    let dir = TempDir::new("dl-404");
    let err = download(dir.path(), &server.mirrors(), &[remote("missing.gz", b"x")], false)
        .unwrap_err()
        .to_string();
    let url = format!("{}missing.gz", server.base);
    assert!(err.contains(&url) && err.contains("404"), "{err}");
    assert_eq!(dir.entries(), Vec::<String>::new());
    server.finish();
}

#[test]
fn failing_mirrors_fall_over_to_a_good_one() {
    let a = content(30_000, 5);
    let broken = Server::start(&[("a.gz", Reply::Ok(content(30_000, 6)))], 1);
    let good = Server::start(&[("a.gz", Reply::Ok(a.clone()))], 1);
    let dir = TempDir::new("dl-failover");
    let mirrors = [closed_port_mirror(), broken.base.clone(), good.base.clone()];
    download(dir.path(), &mirrors, &[remote("a.gz", &a)], false).expect("the third mirror works");
    assert_eq!(std::fs::read(dir.join("a.gz")).unwrap(), a);
    assert_eq!(dir.entries(), ["a.gz"]);
    assert_eq!(broken.finish(), ["/mnist/a.gz"]);
    assert_eq!(good.finish(), ["/mnist/a.gz"]);
}

#[test]
fn an_unreachable_mirror_fails_fast_with_one_line_per_file() {
    let dir = TempDir::new("dl-unreachable");
    let mirror = closed_port_mirror();
    let files = [remote("a.gz", b"a"), remote("b.gz", b"b")];
    let start = Instant::now();
    let err = download(dir.path(), std::slice::from_ref(&mirror), &files, false).unwrap_err().to_string();
    assert!(start.elapsed() < Duration::from_secs(5), "took {:?}", start.elapsed());
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(lines[0].contains(&format!("{mirror}a.gz")), "{err}");
    assert!(lines[0].contains("connection refused"), "{err}");
    assert!(lines[1].contains("b.gz") && lines[1].contains("no mirror was reachable"), "{err}");
    assert_eq!(dir.entries(), Vec::<String>::new());
}

// ---- Fashion-MNIST: its own mirrors (LENET_FASHION_MNIST_MIRROR) and its own checksums ----

/// `lenet download --data-dir DIR` plus `args`, with each data set's mirror variable given.
fn lenet_download(dir: &TempDir, args: &[&str], mnist_mirror: &str, fashion_mirror: &str) -> Run {
    let args = [&["download", "--data-dir", dir.path().to_str().unwrap()], args].concat();
    run_lenet(&args, |cmd| {
        cmd.env("LENET_MNIST_MIRROR", mnist_mirror).env("LENET_FASHION_MNIST_MIRROR", fashion_mirror);
    })
}

const FILE_NAMES: [&str; 4] = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
];

#[test]
fn fashion_mnist_comes_from_its_own_mirror_checked_against_its_own_md5s() {
    // Small, valid IDX files under the right names: a mirror serving something else than the
    // published files, which the published MD5 sums refuse.
    let bodies = [
        common::gzip(&common::images_of(20, 28)),
        common::gzip(&common::labels_of(20)),
        common::gzip(&common::images_of(10, 28)),
        common::gzip(&common::labels_of(10)),
    ];
    let routes: Vec<(&str, Reply)> =
        FILE_NAMES.iter().zip(&bodies).map(|(n, b)| (*n, Reply::Ok(b.clone()))).collect();
    let server = Server::start(&routes, 4);
    let dir = TempDir::new("dl-fashion");
    let run = lenet_download(&dir, &["--dataset", "fashion-mnist"], &closed_port_mirror(), &server.base);
    let stderr = &run.stderr;
    assert_eq!(run.code, Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // Fashion-MNIST's published sums, one per file, not MNIST's.
    for (name, md5) in [
        ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
        ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
        ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
    ] {
        let line = stderr
            .lines()
            .find(|l| l.contains(&format!("{}{name}", server.base)))
            .unwrap_or_else(|| panic!("{name}:\n{stderr}"));
        assert!(line.contains("MD5 mismatch") && line.contains(&format!("expected {md5}")), "{line}");
    }
    assert!(!stderr.contains("f68b3c2dcbeaaa9fbdd348bbdeb94873"), "MNIST's sum: {stderr}");
    assert_eq!(dir.entries(), Vec::<String>::new(), "files left behind");
    let requested = server.finish();
    assert_eq!(
        requested,
        FILE_NAMES.map(|n| format!("/mnist/{n}")),
        "every file asked of the Fashion-MNIST mirror"
    );
}

#[test]
fn an_mnist_file_is_refused_as_fashion_mnist_and_accepted_as_mnist() {
    let Some(shared) = common::shared_mnist_dir() else { return };
    // MNIST's real test labels (4.5 kB), served for every data set; the other files are 404s.
    let labels = std::fs::read(shared.join("t10k-labels-idx1-ubyte.gz")).unwrap();
    let served = || Server::start(&[("t10k-labels-idx1-ubyte.gz", Reply::Ok(labels.clone()))], 4);

    let server = served();
    let dir = TempDir::new("dl-mnist-as-fashion");
    let run = lenet_download(&dir, &["--dataset", "fashion-mnist"], &closed_port_mirror(), &server.base);
    let stderr = &run.stderr;
    let line = stderr.lines().find(|l| l.starts_with("t10k-labels")).unwrap_or_else(|| panic!("{stderr}"));
    assert!(line.contains("MD5 mismatch: got ec29112dd5afa0611ce80d1b7f02629c"), "{line}");
    assert_eq!(dir.entries(), Vec::<String>::new(), "refused, so not kept");
    server.finish();

    let server = served();
    let dir = TempDir::new("dl-mnist-as-mnist");
    let run = lenet_download(&dir, &[], &server.base, &closed_port_mirror());
    assert_eq!(run.code, Some(1), "three files are missing from this mirror");
    assert_eq!(dir.entries(), ["t10k-labels-idx1-ubyte.gz"], "MNIST's own file is kept");
    assert_eq!(std::fs::read(dir.join("t10k-labels-idx1-ubyte.gz")).unwrap(), labels);
    server.finish();
}

/// Timeouts short enough for a test; the server below stays silent for longer than them.
fn short_timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(2),
        response: Duration::from_millis(500),
        stall: Duration::from_millis(500),
    }
}

#[test]
fn a_stalled_transfer_times_out_and_leaves_nothing() {
    let body = content(200_000, 7);
    let server = Server::start(&[("a.gz", Reply::Stalled(body.clone(), Duration::from_secs(4)))], 1);
    let dir = TempDir::new("dl-stalled");
    let start = Instant::now();
    let err = download_with(dir.path(), &server.mirrors(), &[remote("a.gz", &body)], false, short_timeouts())
        .unwrap_err()
        .to_string();
    assert!(start.elapsed() < Duration::from_secs(3), "gave up after {:?}", start.elapsed());
    assert!(err.contains("a.gz") && err.contains("transfer failed after 100000 bytes"), "{err}");
    assert!(err.contains("timed out") || err.contains("timeout"), "says why: {err}");
    assert_eq!(dir.entries(), Vec::<String>::new(), "files left behind");
    server.finish();
}

#[test]
fn a_silent_server_times_out_and_leaves_nothing() {
    let server = Server::start(&[("a.gz", Reply::Silent(Duration::from_secs(4)))], 1);
    let dir = TempDir::new("dl-silent");
    let start = Instant::now();
    let err = download_with(dir.path(), &server.mirrors(), &[remote("a.gz", b"x")], false, short_timeouts())
        .unwrap_err()
        .to_string();
    assert!(start.elapsed() < Duration::from_secs(3), "gave up after {:?}", start.elapsed());
    assert!(err.contains("a.gz") && err.contains("timed out"), "{err}");
    assert_eq!(dir.entries(), Vec::<String>::new(), "files left behind");
    server.finish();
}
