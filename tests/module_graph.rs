//! The house rules of `functions/shared`, checked over its module graph (issue 24): every
//! type that crosses a boundary has one home in `domain::model`, which imports no
//! behaviour; the ports and the adapters import only the model; no import circle; no
//! file over 700 lines. Read from the sources, so a new file is checked without being
//! listed here.
//!
//! An edge is a path a file names in code: `use crate::…`, `use super::…` (braces
//! expanded) and inline `crate::…` / `super::…` paths, resolved to the file that holds the
//! module. Comments and inline `mod … { }` blocks (tests at a file's end) are left out: a
//! test importing its parent is no circle of the code.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use rotatetoken_tests::repo_root;

const MAX_LINES: usize = 700;

fn src() -> PathBuf {
    repo_root().join("functions/shared/src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A file's module path from the crate root: `domain/refresh/mod.rs` is `domain::refresh`.
fn module_of(file: &str) -> Vec<String> {
    let stem = file.trim_end_matches(".rs");
    let mut parts: Vec<String> = stem.split('/').map(String::from).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// What each file re-exports (`pub use`): item name -> the module path it comes from
/// (its last segment the item, or `*` for a glob).
type Reexports = BTreeMap<String, Vec<Vec<String>>>;

fn reexports_of(code: &str, here: &[String]) -> Reexports {
    let mut out = Reexports::new();
    let mut rest = code;
    while let Some(i) = rest.find("pub use ") {
        rest = &rest[i + 8..];
        let Some(end) = rest.find(';') else { break };
        for tree in expand(rest[..end].trim_start()) {
            let tree = if tree.starts_with("crate::") || tree.starts_with("super::") {
                tree
            } else {
                format!("self::{tree}")
            };
            let (source, name) = match tree.split_once(" as ") {
                Some((s, alias)) => (s.to_string(), alias.to_string()),
                None => (
                    tree.clone(),
                    tree.rsplit("::").next().unwrap_or("").to_string(),
                ),
            };
            out.entry(name).or_default().push(resolve(&source, here));
        }
    }
    out
}

/// Whether `code` defines an item named `name` (for glob re-exports).
fn defines(code: &str, name: &str) -> bool {
    [
        "struct", "enum", "fn", "const", "trait", "type", "static", "mod",
    ]
    .iter()
    .any(|kind| {
        code.contains(&format!("{kind} {name} "))
            || code.contains(&format!("{kind} {name}("))
            || code.contains(&format!("{kind} {name}<"))
            || code.contains(&format!("{kind} {name}:"))
            || code.contains(&format!("{kind} {name};"))
    })
}

/// The file that holds what `path` names: the longest module prefix's file, followed
/// through its re-exports to the item's own file.
fn file_of(
    path: &[String],
    files: &BTreeSet<String>,
    reexports: &BTreeMap<String, Reexports>,
    codes: &BTreeMap<String, String>,
) -> Option<String> {
    let found = module_file(path, files)?;
    let n = module_of(&found).len();
    let Some(item) = path.get(n) else {
        return Some(found);
    };
    let exported = reexports.get(&found).and_then(|r| {
        r.get(item).cloned().or_else(|| {
            // A glob: the source module that defines the item.
            r.get("*").and_then(|globs| {
                globs
                    .iter()
                    .filter_map(|g| module_file(&g[..g.len() - 1], files))
                    .find(|f| codes.get(f).is_some_and(|c| defines(c, item)))
                    .map(|f| {
                        let mut source = module_of(&f);
                        source.push(item.clone());
                        vec![source]
                    })
            })
        })
    });
    match exported {
        // One source (an item re-exported under two names is left at the facade); the
        // depth bound stops a re-export that names itself.
        Some(sources) if sources.len() == 1 && path.len() < 12 && sources[0] != path => {
            file_of(&sources[0], files, reexports, codes)
        }
        _ => Some(found),
    }
}

/// The file (relative to src) that holds the longest module prefix of `path`.
fn module_file(path: &[String], files: &BTreeSet<String>) -> Option<String> {
    for n in (0..=path.len()).rev() {
        let prefix = path[..n].join("/");
        let candidates = if n == 0 {
            vec!["lib.rs".to_string()]
        } else {
            vec![format!("{prefix}.rs"), format!("{prefix}/mod.rs")]
        };
        if let Some(f) = candidates.into_iter().find(|c| files.contains(c)) {
            return Some(f);
        }
    }
    None
}

/// The code of a file without comments, string literals' contents, and inline `mod x { }`
/// blocks.
fn code_of(text: &str) -> String {
    let mut out = String::new();
    let mut skip_depth: Option<i32> = None;
    let mut depth = 0i32;
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let trimmed = code.trim_start();
        let opens_inline_mod = (trimmed.starts_with("mod ") || trimmed.starts_with("pub mod "))
            && trimmed.trim_end().ends_with('{');
        if skip_depth.is_none() && opens_inline_mod {
            skip_depth = Some(depth);
        }
        depth += code.matches('{').count() as i32 - code.matches('}').count() as i32;
        if let Some(d) = skip_depth {
            if depth <= d {
                skip_depth = None;
            }
            continue;
        }
        out.push_str(code);
        out.push('\n');
    }
    out
}

/// Expands `a::{b, c::{d, e}}` into `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<String> {
    let tree: String = tree.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(open) = tree.find('{') else {
        return vec![tree];
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut parts = Vec::new();
    let (mut level, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => level += 1,
            '}' => level -= 1,
            ',' if level == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .flat_map(|p| expand(p).into_iter().map(move |e| format!("{prefix}{e}")))
        .collect()
}

/// Every crate-internal module path a file's code names.
fn paths_named(code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut rest = code;
    // `use` statements, braces expanded.
    while let Some(i) = rest.find("use ") {
        // A `use` statement begins its line (after `pub` or `pub(...)` at most): the word
        // in a string ("use the complete ARN") is not one.
        let line = rest[..i].rsplit('\n').next().unwrap_or_default().trim();
        let after = &rest[i + 4..];
        rest = after;
        if !(line.is_empty() || line == "pub" || line.starts_with("pub(")) {
            continue;
        }
        let Some(end) = after.find(';') else { break };
        let tree = after[..end].trim_start();
        if tree.starts_with("crate::") || tree.starts_with("super::") || tree.starts_with("self::")
        {
            paths.extend(expand(tree));
        } else {
            // A child module (`use verdict::fail`) or another crate: resolved from here,
            // an outside crate finds no file deeper than this one.
            paths.extend(expand(&format!("self::{tree}")));
        }
    }
    // Inline paths.
    for start in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(i) = code[from..].find(start) {
            let at = from + i;
            let before = code[..at].chars().last();
            let path: String = code[at..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            from = at + path.len().max(1);
            let path = path.trim_end_matches(':').to_string();
            if !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
                && path.contains("::")
            {
                paths.push(path);
            }
        }
    }
    paths
}

/// The module a path names, from the module `here` that names it.
fn resolve(path: &str, here: &[String]) -> Vec<String> {
    let mut segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let mut module: Vec<String> = Vec::new();
    match segments.first() {
        Some(&"crate") => {
            segments.remove(0);
        }
        Some(&"self") => {
            segments.remove(0);
            module = here.to_vec();
        }
        _ => {
            module = here.to_vec();
            while segments.first() == Some(&"super") {
                segments.remove(0);
                module.pop();
            }
        }
    }
    module.extend(segments.iter().map(|s| s.to_string()));
    module
}

/// file -> the files it imports.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let root = src();
    let mut paths = Vec::new();
    rust_files(&root, &mut paths);
    let files: BTreeSet<String> = paths
        .iter()
        .map(|p| {
            p.strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/")
        })
        .collect();
    let codes: BTreeMap<String, String> = files
        .iter()
        .map(|f| {
            (
                f.clone(),
                code_of(&std::fs::read_to_string(root.join(f)).unwrap()),
            )
        })
        .collect();
    let reexports: BTreeMap<String, Reexports> = codes
        .iter()
        .map(|(f, c)| (f.clone(), reexports_of(c, &module_of(f))))
        .collect();
    let mut edges = BTreeMap::new();
    for file in &files {
        let here = module_of(file);
        let targets: BTreeSet<String> = paths_named(&codes[file])
            .iter()
            .filter_map(|p| file_of(&resolve(p, &here), &files, &reexports, &codes))
            .filter(|t| t != file && t != "lib.rs")
            .collect();
        edges.insert(file.clone(), targets);
    }
    edges
}

/// The import circles (strongly connected components of more than one file).
fn circles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // Kosaraju: order by finish time, then collect on the reversed graph.
    fn visit<'a>(
        n: &'a str,
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        seen: &mut BTreeSet<&'a str>,
        order: &mut Vec<&'a str>,
    ) {
        if !seen.insert(n) {
            return;
        }
        for m in edges.get(n).into_iter().flatten() {
            visit(m, edges, seen, order);
        }
        order.push(n);
    }
    let mut seen = BTreeSet::new();
    let mut order = Vec::new();
    for n in edges.keys() {
        visit(n, edges, &mut seen, &mut order);
    }
    let mut reversed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, tos) in edges {
        for to in tos {
            reversed.entry(to.clone()).or_default().insert(from.clone());
        }
    }
    let mut assigned = BTreeSet::new();
    let mut out = Vec::new();
    for n in order.into_iter().rev() {
        let mut component = Vec::new();
        visit(n, &reversed, &mut assigned, &mut component);
        if component.len() > 1 {
            component.sort();
            out.push(component.into_iter().map(String::from).collect());
        }
    }
    out
}

fn is_model(file: &str) -> bool {
    file.starts_with("domain/model/") || file == "domain/error.rs"
}

#[test]
fn the_shared_crate_has_no_import_circle() {
    let edges = graph();
    assert!(
        edges.len() > 40 && edges.values().map(BTreeSet::len).sum::<usize>() > 80,
        "the graph was read: {} files",
        edges.len()
    );
    let found = circles(&edges);
    assert!(
        found.is_empty(),
        "import circles in functions/shared/src: {found:#?}"
    );
}

#[test]
fn the_model_imports_no_behaviour_and_the_ports_and_adapters_only_the_model() {
    let edges = graph();
    let mut wrong = Vec::new();
    for (file, targets) in &edges {
        let allowed: fn(&str) -> bool = if is_model(file) {
            is_model
        } else if file == "ports.rs" {
            |t| is_model(t)
        } else if file.starts_with("aws/") {
            |t| is_model(t) || t == "ports.rs" || t.starts_with("aws/")
        } else {
            continue;
        };
        for t in targets.iter().filter(|t| !allowed(t)) {
            wrong.push(format!("{file} imports {t}"));
        }
    }
    assert!(
        edges.keys().any(|f| f.starts_with("domain/model/"))
            && edges["aws/cloudformation/mod.rs"].contains("ports.rs"),
        "the rule was applied to the model and the adapters"
    );
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// The house rule holds for every Rust file of the project, not only the shared crate:
/// the functions, the CLI, the harness and suites, the benchmarks and scripts.
#[test]
fn no_rust_file_of_the_project_is_longer_than_700_lines() {
    let mut paths = Vec::new();
    for dir in ["functions", "cli", "tests", "bench", "scripts"] {
        rust_files(&repo_root().join(dir), &mut paths);
    }
    assert!(
        paths
            .iter()
            .any(|p| p.ends_with("functions/shared/src/lib.rs")),
        "the shared crate is among the files read"
    );
    let long: Vec<String> = paths
        .iter()
        .map(|p| (p, std::fs::read_to_string(p).unwrap().lines().count()))
        .filter(|(_, n)| *n > MAX_LINES)
        .map(|(p, n)| format!("{}: {n} lines", p.display()))
        .collect();
    assert!(long.is_empty(), "split these in two: {long:#?}");
}

#[test]
fn a_circle_and_a_model_import_of_behaviour_are_found() {
    // The checks themselves, on a made-up graph and on made-up code.
    let mut edges = BTreeMap::new();
    edges.insert("a.rs".to_string(), BTreeSet::from(["b.rs".to_string()]));
    edges.insert("b.rs".to_string(), BTreeSet::from(["c.rs".to_string()]));
    edges.insert("c.rs".to_string(), BTreeSet::from(["a.rs".to_string()]));
    edges.insert("d.rs".to_string(), BTreeSet::from(["a.rs".to_string()]));
    assert_eq!(circles(&edges), vec![vec!["a.rs", "b.rs", "c.rs"]]);
    let code = code_of(
        "use super::{model::{A, B}, refresh};\n// use crate::x;\nfn f() { crate::domain::guard::g() }\n#[cfg(test)]\nmod tests {\n    use super::*;\n}\n",
    );
    let mut named = paths_named(&code);
    named.sort();
    assert_eq!(
        named,
        vec![
            "crate::domain::guard::g",
            "super::model::A",
            "super::model::B",
            "super::refresh"
        ]
    );
    let here = module_of("domain/model/step.rs");
    assert_eq!(
        resolve("super::super::refresh", &here),
        vec!["domain", "refresh"]
    );
    // Through a re-export to the item's own file: no circle through a facade.
    let files = BTreeSet::from(["service/mod.rs".to_string(), "service/scope.rs".to_string()]);
    let codes = BTreeMap::from([
        (
            "service/mod.rs".to_string(),
            "pub use scope::Scope;\n".to_string(),
        ),
        (
            "service/scope.rs".to_string(),
            "pub struct Scope {}\n".to_string(),
        ),
    ]);
    let reexports = codes
        .iter()
        .map(|(f, c)| (f.clone(), reexports_of(c, &module_of(f))))
        .collect();
    let path = resolve("super::Scope", &module_of("service/discover.rs"));
    assert_eq!(
        file_of(&path, &files, &reexports, &codes).as_deref(),
        Some("service/scope.rs")
    );
}
