//! Checks of the crate's layering, run as unit tests over the source text:
//! data flows one way (`cli` → settings → library modules → Docker), so
//! - no two top-level modules import each other, directly or round about;
//! - no two modules of one directory do (`dns::records` and `dns::zone`);
//! - a command module never imports another command module (shared
//!   operations live in the library module they are about), and no library
//!   module imports a command.
//!
//! Test code (`#[cfg(test)]` and below) is left out: tests may reach
//! anywhere.
#![cfg(test)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The module of `commands` that is a helper, not a command: the
/// password prompt (a command may also take `commands::Global`).
const COMMAND_HELPERS: [&str; 1] = ["password_input"];

/// Every `.rs` file below `src/` but this one, as code: comments and the
/// contents of string literals removed, and the `#[cfg(test)] mod` blocks
/// cut off (test modules come last in this crate's files).
fn sources() -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(directory) = stack.pop() {
        for entry in std::fs::read_dir(&directory).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|extension| extension == "rs") {
                let relative = path.strip_prefix(&root).unwrap().to_owned();
                if relative == Path::new("layering.rs") {
                    continue;
                }
                let code = code_only(&std::fs::read_to_string(&path).unwrap());
                let code = match code.find("#[cfg(test)]\nmod ") {
                    Some(position) => code[..position].to_owned(),
                    None => code,
                };
                files.push((relative, code));
            }
        }
    }
    files.sort();
    files
}

/// `text` without comments and with string and character literals emptied
/// (a path written in a message is no import); lines are kept.
fn code_only(text: &str) -> String {
    let mut code = String::with_capacity(text.len());
    let mut characters = text.chars().peekable();
    while let Some(character) = characters.next() {
        match character {
            '/' if characters.peek() == Some(&'/') => {
                for next in characters.by_ref() {
                    if next == '\n' {
                        code.push('\n');
                        break;
                    }
                }
            }
            '"' => {
                code.push('"');
                while let Some(next) = characters.next() {
                    match next {
                        '\\' => {
                            characters.next();
                        }
                        '"' => break,
                        '\n' => code.push('\n'),
                        _ => {}
                    }
                }
                code.push('"');
            }
            '\'' => {
                // A character literal ('"', '\\'') is emptied; a lifetime
                // ('a) is kept.
                let mut lookahead = characters.clone();
                match (lookahead.next(), lookahead.next()) {
                    (Some('\\'), _) => {
                        characters.next();
                        characters.next();
                        for next in characters.by_ref() {
                            if next == '\'' {
                                break;
                            }
                        }
                        code.push_str("' '");
                    }
                    (Some(_), Some('\'')) => {
                        characters.next();
                        characters.next();
                        code.push_str("' '");
                    }
                    _ => code.push('\''),
                }
            }
            _ => code.push(character),
        }
    }
    code
}

/// The first path segment of each path `text` names after `prefix`
/// (`crate::`, `super::`), including every path of `prefix{a, b::{c, d}}`
/// groups (their first segments: `a`, `b`).
fn referenced(text: &str, prefix: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let identifier = |rest: &str| -> String {
        rest.chars()
            .take_while(|character| character.is_ascii_alphanumeric() || *character == '_')
            .collect()
    };
    let mut rest = text;
    while let Some(position) = rest.find(prefix) {
        let after = &rest[position + prefix.len()..];
        let boundary = position == 0
            || !rest[..position]
                .ends_with(|character: char| character.is_ascii_alphanumeric() || character == '_');
        if boundary {
            if let Some(group) = after.strip_prefix('{') {
                // Top-level items of the group: split at commas outside
                // nested braces, up to the matching closing brace.
                let mut depth = 0;
                let mut item = String::new();
                for character in group.chars() {
                    match character {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            let name = identifier(item.trim());
                            if !name.is_empty() {
                                names.insert(name);
                            }
                            item.clear();
                            continue;
                        }
                        _ => {}
                    }
                    if depth == 0 || character != '{' {
                        item.push(character);
                    }
                }
                let name = identifier(item.trim());
                if !name.is_empty() {
                    names.insert(name);
                }
            } else {
                let name = identifier(after);
                if !name.is_empty() {
                    names.insert(name);
                }
            }
        }
        rest = after;
    }
    names
}

/// The module a file belongs to at `depth` path components (`dns/zone.rs`
/// at depth 1 is `dns`, at depth 2 `zone`), and its parent directory.
fn module_name(path: &Path) -> String {
    let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
    if stem == "mod" {
        path.parent()
            .and_then(Path::file_name)
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or(stem)
    } else {
        stem
    }
}

/// A cycle in `graph`, if there is one, as the modules along it.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|seen| seen == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, graph, &mut Vec::new(), &mut done) {
            return Some(cycle);
        }
    }
    None
}

#[test]
fn top_level_modules_import_each_other_one_way_only() {
    let files = sources();
    let top_level: BTreeSet<String> = files
        .iter()
        .map(|(path, _)| {
            path.components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_owned()
        })
        .filter(|name| name != "lib" && name != "main")
        .collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, code) in &files {
        let top = path
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        if !top_level.contains(&top) {
            continue;
        }
        for name in referenced(code, "crate::") {
            if name != top && top_level.contains(&name) {
                graph.entry(top.clone()).or_default().insert(name);
            }
        }
    }
    assert!(graph.len() > 10, "too few modules found: {graph:?}");
    if let Some(cycle) = find_cycle(&graph) {
        panic!("top-level modules import each other: {}", cycle.join(" → "));
    }
}

#[test]
fn modules_of_one_directory_import_each_other_one_way_only() {
    let files = sources();
    let mut by_directory: BTreeMap<PathBuf, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (path, code) in &files {
        let Some(directory) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        else {
            continue;
        };
        if module_name(path) == directory.file_name().unwrap().to_string_lossy() {
            continue; // the directory's own mod.rs
        }
        let graph = by_directory.entry(directory.to_owned()).or_default();
        let name = module_name(path);
        let siblings: BTreeSet<String> = files
            .iter()
            .filter(|(other, _)| other.parent() == Some(directory))
            .map(|(other, _)| module_name(other))
            .collect();
        let crate_prefix = format!(
            "crate::{}::",
            directory.to_string_lossy().replace('/', "::")
        );
        for target in referenced(code, "super::")
            .into_iter()
            .chain(referenced(code, &crate_prefix))
        {
            if target != name && siblings.contains(&target) {
                graph.entry(name.clone()).or_default().insert(target);
            }
        }
    }
    for (directory, graph) in &by_directory {
        if let Some(cycle) = find_cycle(graph) {
            panic!(
                "modules in src/{} import each other: {}",
                directory.display(),
                cycle.join(" → ")
            );
        }
    }
}

#[test]
fn commands_use_library_modules_not_each_other() {
    let files = sources();
    let commands: BTreeSet<String> = files
        .iter()
        .filter(|(path, _)| path.starts_with("commands"))
        .map(|(path, _)| module_name(path))
        .filter(|name| name != "commands" && !COMMAND_HELPERS.contains(&name.as_str()))
        .collect();
    assert!(
        commands.contains("up") && commands.contains("backup"),
        "{commands:?}"
    );
    for (path, code) in &files {
        if path.starts_with("commands") {
            if path.file_name().is_some_and(|name| name == "mod.rs") {
                continue;
            }
            let used: Vec<String> = referenced(code, "super::")
                .into_iter()
                .chain(referenced(code, "crate::commands::"))
                .filter(|name| commands.contains(name))
                .collect();
            assert!(
                used.is_empty(),
                "src/{} uses the command module(s) {used:?}: move what they share into the library module it is about",
                path.display()
            );
        } else if path != Path::new("lib.rs") && path != Path::new("main.rs") {
            assert!(
                !referenced(code, "crate::").contains("commands"),
                "the library module src/{} uses a command",
                path.display()
            );
        }
    }
}

#[test]
fn references_are_read_from_paths_and_groups() {
    let names = referenced(
        "use crate::{dns, error::user_error};\nlet x = crate::spec::resolver_address(s); my_crate::no",
        "crate::",
    );
    assert_eq!(
        names,
        ["dns", "error", "spec"]
            .map(str::to_owned)
            .into_iter()
            .collect()
    );
    let mut graph = BTreeMap::new();
    graph.insert("a".to_owned(), ["b".to_owned()].into_iter().collect());
    graph.insert("b".to_owned(), ["a".to_owned()].into_iter().collect());
    assert_eq!(
        find_cycle(&graph),
        Some(vec!["a".to_owned(), "b".to_owned(), "a".to_owned()])
    );
    graph.remove("b");
    assert_eq!(find_cycle(&graph), None);
}
