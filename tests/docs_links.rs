//! Every relative link and image in README.md, ARCHITECTURE.md and docs/*.md resolves: the file
//! it names exists, and an anchor into a markdown page names one of that page's headings. The
//! manual lives in several pages that link into each other, so a section renamed or moved must
//! not leave a link pointing at where it used to be. Std only: no crate, not even this one.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

/// The pages checked: the README, the code map and every page of the manual.
fn pages(root: &Path) -> Vec<PathBuf> {
    let mut docs: Vec<PathBuf> = fs::read_dir(root.join("docs"))
        .expect("docs/ is readable")
        .map(|entry| entry.expect("an entry of docs/").path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "md"))
        .collect();
    docs.sort();
    [root.join("README.md"), root.join("ARCHITECTURE.md")].into_iter().chain(docs).collect()
}

/// The lines outside fenced code blocks, numbered from 1: a `# comment` in a shell block is no
/// heading, and a `](` in code is no link.
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut in_code = false;
    let mut lines = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        } else if !in_code {
            lines.push((index + 1, line));
        }
    }
    lines
}

/// The anchors GitHub gives a page's headings: the title lowercased, backticks and other
/// punctuation dropped (not `-` or `_`), each space a `-`; a repeated one gets `-1`, `-2`, ….
fn anchors(text: &str) -> HashSet<String> {
    let mut anchors = HashSet::new();
    for (_, line) in prose_lines(text) {
        let hashes = line.len() - line.trim_start_matches('#').len();
        if !(1..=6).contains(&hashes) || !line[hashes..].starts_with(' ') {
            continue;
        }
        let slug: String = line[hashes..]
            .trim()
            .to_lowercase()
            .chars()
            .filter(|&c| c.is_alphanumeric() || c == '-' || c == '_' || c == ' ')
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let mut anchor = slug.clone();
        for repeat in 1.. {
            if anchors.insert(anchor.clone()) {
                break;
            }
            anchor = format!("{slug}-{repeat}");
        }
    }
    anchors
}

/// The targets on one line: of `[text](target)` and `![alt](target)` (a title after a space
/// left out), and of `src="target"` for the images written as HTML to size them.
fn targets(line: &str) -> Vec<&str> {
    let mut targets = Vec::new();
    for (opening, closing) in [("](", ')'), ("src=\"", '"')] {
        let mut rest = line;
        while let Some(at) = rest.find(opening) {
            rest = &rest[at + opening.len()..];
            let end = rest.find(closing).unwrap_or(rest.len());
            targets.push(rest[..end].split_whitespace().next().unwrap_or(""));
            rest = &rest[end..];
        }
    }
    targets
}

/// Why `target`, linked from `page`, does not resolve; `None` when it does or is not relative.
fn broken(page: &Path, target: &str) -> Option<String> {
    if target.is_empty() || ["http:", "https:", "mailto:"].iter().any(|scheme| target.starts_with(scheme)) {
        return None;
    }
    let (file, anchor) = match target.split_once('#') {
        Some((file, anchor)) => (file, Some(anchor)),
        None => (target, None),
    };
    // A bare `#anchor` points into the page itself; anything else is relative to its directory.
    let path = if file.is_empty() { page.to_path_buf() } else { page.parent()?.join(file) };
    if !path.exists() {
        return Some("no such file".to_string());
    }
    let anchor = anchor.filter(|_| path.extension().is_some_and(|extension| extension == "md"))?;
    let text = fs::read_to_string(&path).ok()?;
    let linked = if file.is_empty() { "this page" } else { file };
    (!anchors(&text).contains(anchor)).then(|| format!("no heading with anchor #{anchor} in {linked}"))
}

#[test]
fn every_relative_link_and_image_resolves() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut problems = Vec::new();
    for page in pages(root) {
        let text = fs::read_to_string(&page).unwrap_or_else(|error| panic!("{}: {error}", page.display()));
        let name = page.strip_prefix(root).unwrap_or(&page).display().to_string();
        for (number, line) in prose_lines(&text) {
            for target in targets(line) {
                if let Some(why) = broken(&page, target) {
                    problems.push(format!("{name}:{number}: ({target}): {why}"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{} broken links:\n{}", problems.len(), problems.join("\n"));
}
