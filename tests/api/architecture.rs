//! The module graph has no cycle: no file of `src/` imports another that imports it back,
//! directly or through others, and neither do the top-level modules. Read from the source
//! text (`crate::`, `super::` and `use` paths outside comments and unit tests), so a change
//! that brings a cycle back fails here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module path (`webhooks::queue`) → the modules its code names.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = BTreeMap::new();
    collect(&root, &root, &mut files);
    let modules: BTreeSet<String> = files.keys().cloned().collect();
    let mut graph = BTreeMap::new();
    for (module, text) in &files {
        let code = without_comments_and_tests(text);
        let mut uses = BTreeSet::new();
        let children = modules.iter().filter_map(|m| {
            m.strip_prefix(&format!("{module}::"))
                .filter(|rest| !rest.contains("::"))
        });
        let mut paths = named_paths(module, &code);
        paths.extend(
            children
                .filter(|child| names_child(&code, child))
                .map(|child| format!("{module}::{child}")),
        );
        for path in paths {
            // The longest prefix of the path that is a module of ours.
            let segments: Vec<&str> = path.split("::").collect();
            let target = (1..=segments.len())
                .rev()
                .map(|n| segments[..n].join("::"))
                .find(|candidate| modules.contains(candidate));
            if let Some(target) = target
                && target != *module
                && !module.starts_with(&format!("{target}::"))
            {
                uses.insert(target);
            }
        }
        graph.insert(module.clone(), uses);
    }
    graph
}

fn collect(root: &Path, dir: &Path, files: &mut BTreeMap<String, String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(root, &path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let relative = path.strip_prefix(root).unwrap().with_extension("");
            let mut segments: Vec<String> = relative
                .iter()
                .map(|s| s.to_string_lossy().into_owned())
                .collect();
            if segments.last().is_some_and(|s| s == "mod") {
                segments.pop();
            }
            if segments == ["lib"] || segments == ["main"] {
                continue;
            }
            files.insert(segments.join("::"), std::fs::read_to_string(&path).unwrap());
        }
    }
}

fn without_comments_and_tests(text: &str) -> String {
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    code.lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether `code` names its child module `child` by a relative path (`child::item`), as a
/// `mod.rs` does in `pub use child::Item`.
fn names_child(code: &str, child: &str) -> bool {
    code.match_indices(&format!("{child}::")).any(|(at, _)| {
        !code[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
    })
}

/// Every `crate::a::b` and `super::a` path, with `use crate::x::{a, b::c}` groups expanded.
fn named_paths(module: &str, code: &str) -> Vec<String> {
    let parent = module.rsplit_once("::").map_or("", |(p, _)| p).to_string();
    let mut paths = Vec::new();
    for (prefix, base) in [("crate::", String::new()), ("super::", parent)] {
        for (at, _) in code.match_indices(prefix) {
            let rest = &code[at + prefix.len()..];
            let head: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            let head = head.trim_end_matches(':');
            let join = |tail: &str| {
                [base.as_str(), tail]
                    .iter()
                    .filter(|s| !s.is_empty())
                    .copied()
                    .collect::<Vec<_>>()
                    .join("::")
            };
            paths.push(join(head));
            if rest[head.len()..].trim_start_matches(':').starts_with('{') {
                let group = &rest[head.len()..];
                let group =
                    &group[group.find('{').unwrap() + 1..group.find('}').unwrap_or(group.len())];
                for item in group.split(',') {
                    let item = item
                        .trim()
                        .trim_start_matches("self")
                        .trim_start_matches("::");
                    match (head.is_empty(), item.is_empty()) {
                        (_, true) => {}
                        (true, false) => paths.push(join(item)),
                        (false, false) => paths.push(join(&format!("{head}::{item}"))),
                    }
                }
            }
        }
    }
    paths
}

/// A cycle in `graph`, if there is one, as the modules along it.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_file_imports_one_that_imports_it_back() {
    let graph = module_graph();
    // `SHOW_MODULE_GRAPH=1 cargo test --test api architecture -- --nocapture` prints it.
    if std::env::var_os("SHOW_MODULE_GRAPH").is_some() {
        for (module, uses) in &graph {
            let uses: Vec<&str> = uses.iter().map(String::as_str).collect();
            println!("{module} → {}", uses.join(", "));
        }
    }
    assert!(
        graph.len() > 50,
        "the graph was read ({} modules)",
        graph.len()
    );
    assert!(
        graph["webhooks::worker"].contains("webhooks::queue"),
        "edges are found"
    );
    if let Some(cycle) = find_cycle(&graph) {
        panic!("an import cycle: {}", cycle.join(" → "));
    }
}

#[test]
fn no_top_level_module_imports_one_that_imports_it_back() {
    let mut top: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, uses) in module_graph() {
        let from = module.split("::").next().unwrap().to_string();
        let entry = top.entry(from.clone()).or_default();
        for used in uses {
            let to = used.split("::").next().unwrap().to_string();
            if to != from {
                entry.insert(to);
            }
        }
    }
    if let Some(cycle) = find_cycle(&top) {
        panic!(
            "an import cycle between top-level modules: {}",
            cycle.join(" → ")
        );
    }
}

#[test]
fn a_cycle_is_found_when_there_is_one() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec![]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(find_cycle(&graph).unwrap(), ["a", "b", "c", "a"]);
}
