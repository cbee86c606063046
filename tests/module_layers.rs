//! No import cycle between the library's top-level modules (`src/*.rs`, `src/*/`): each may use
//! the ones below it, never one that uses it back, so a module can be read (and tested) with
//! only what is under it. `crate::Error` and `crate::Result`, re-exported from `error`, count as
//! imports of `error`; test modules (`#[cfg(test)] mod tests`) and the binaries are left out.
//! Std only, reading the sources as text.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// The top-level modules, each with the top-level modules its files name (`crate::name`).
fn imports(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let top_level: BTreeSet<String> = fs::read_dir(src)
        .expect("src/ is readable")
        .map(|e| e.expect("an entry of src/").file_name().to_string_lossy().into_owned())
        .filter(|name| !matches!(name.as_str(), "bin" | "lib.rs" | "main.rs"))
        .map(|name| name.trim_end_matches(".rs").to_string())
        .collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for module in &top_level {
        let mut files = Vec::new();
        collect_rust_files(&src.join(module), &mut files);
        collect_rust_files(&src.join(format!("{module}.rs")), &mut files);
        let uses = graph.entry(module.clone()).or_default();
        for file in files {
            let text = fs::read_to_string(&file).expect("a source file is readable");
            let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or_default();
            for name in crate_names(code) {
                let name = if name == "Error" || name == "Result" { "error".to_string() } else { name };
                if top_level.contains(&name) && name != *module {
                    uses.insert(name);
                }
            }
        }
    }
    graph
}

fn collect_rust_files(path: &Path, out: &mut Vec<std::path::PathBuf>) {
    if path.is_dir() {
        for entry in fs::read_dir(path).expect("a source directory is readable") {
            collect_rust_files(&entry.expect("an entry").path(), out);
        }
    } else if path.is_file() && path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_path_buf());
    }
}

/// The names right after `crate::`, and each name inside `crate::{...}`.
fn crate_names(code: &str) -> Vec<String> {
    let mut names = Vec::new();
    let word = |s: &str| s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        match rest.strip_prefix('{') {
            Some(group) => {
                let group = &group[..group.find('}').unwrap_or(group.len())];
                names.extend(group.split(',').map(|item| word(item.trim())).filter(|w| !w.is_empty()));
            }
            None => names.push(word(rest)),
        }
    }
    names
}

/// A cycle through `start`, as the path of modules, if any.
fn cycle_from(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_string(), vec![start.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((module, path)) = stack.pop() {
        for next in graph.get(&module).into_iter().flatten() {
            if next == start {
                return Some([path.clone(), vec![start.to_string()]].concat());
            }
            if seen.insert(next.clone()) {
                stack.push((next.clone(), [path.clone(), vec![next.clone()]].concat()));
            }
        }
    }
    None
}

#[test]
fn the_top_level_modules_import_one_another_without_a_cycle() {
    let graph = imports(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(graph.len() > 10, "the modules were found: {:?}", graph.keys());
    assert!(graph["session"].contains("train"), "imports are read: session uses train");
    let cycles: Vec<String> =
        graph.keys().filter_map(|m| cycle_from(&graph, m)).map(|path| path.join(" -> ")).collect();
    assert!(cycles.is_empty(), "import cycles between top-level modules:\n{}", cycles.join("\n"));
}

#[test]
fn a_cycle_is_found_when_there_is_one() {
    let graph: BTreeMap<String, BTreeSet<String>> =
        [("a", vec!["b"]), ("b", vec!["c"]), ("c", vec!["a"]), ("d", vec!["a"])]
            .into_iter()
            .map(|(m, uses)| (m.to_string(), uses.into_iter().map(String::from).collect()))
            .collect();
    assert_eq!(cycle_from(&graph, "a"), Some(vec!["a".into(), "b".into(), "c".into(), "a".into()]));
    assert_eq!(cycle_from(&graph, "d"), None);
    assert_eq!(
        crate_names("use crate::{Error, data::Dataset};\nlet x = crate::model::argmax(r);"),
        ["Error", "data", "model"]
    );
}
