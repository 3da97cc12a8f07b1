//! The tiers of `phases/src` (see the crate overview in phases/src/lib.rs): workflows over phases
//! and preflight over the runner over infrastructure, and no import cycle between files; a folder
//! of phase steps (`phases/<subject>/`) is used from outside only through its `mod.rs`; the
//! command line (`src/`) reaches the library through `workflows` and infrastructure only. Reads
//! every `crate::`/`super::`/`self::` (in `src/`: `kubestrap_phases::`) path outside
//! `#[cfg(test)]` modules and `tests.rs` files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const INFRASTRUCTURE: &[&str] = &[
    "api", "config", "cri", "fs", "host", "pki", "render", "version",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tier {
    Infrastructure,
    Runner,
    Phases,
    Preflight,
    Workflows,
    Root,
}

fn tier(module: &[String]) -> Tier {
    match module.first().map(String::as_str) {
        None => Tier::Root,
        Some("runner") => Tier::Runner,
        Some("phases") => Tier::Phases,
        Some("preflight") => Tier::Preflight,
        Some("workflows") => Tier::Workflows,
        Some(m) if INFRASTRUCTURE.contains(&m) => Tier::Infrastructure,
        Some(m) => panic!("phases/src/{m} belongs to no tier: add it to INFRASTRUCTURE or a tier"),
    }
}

/// Whether a file of tier `from` may use a file of tier `to`.
fn allowed(from: Tier, to: Tier) -> bool {
    use Tier::*;
    match from {
        Workflows | Root => true,
        Phases => matches!(to, Phases | Runner | Infrastructure),
        Preflight => matches!(to, Preflight | Runner | Infrastructure),
        Runner => matches!(to, Runner | Infrastructure),
        Infrastructure => to == Infrastructure,
    }
}

/// One `crate::…` (or relative) path a file uses, with its line.
struct Use {
    line: usize,
    path: String,
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

/// `a/b.rs` → `[a, b]`, `a/mod.rs` → `[a]`, `lib.rs` → `[]`.
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// The code of a file that the library is built from: up to its `#[cfg(test)]` module, without
/// comment lines. Returned as (line number, text) pairs.
fn library_lines(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .take_while(|(_, l)| l.trim() != "#[cfg(test)]")
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
        .map(|(i, l)| (i + 1, l.to_string()))
        .collect()
}

/// `a::{b, c::{d, e}}` → `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        return vec![tree.to_string()];
    };
    let prefix = tree[..open].trim_end_matches("::");
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, ch) in inner.char_indices() {
        match ch {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .flat_map(expand)
        .map(|p| {
            if prefix.is_empty() {
                p
            } else {
                format!("{prefix}::{p}")
            }
        })
        .collect()
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Every path starting with `crate::`, `super::` or `self::` in the library code of a file.
fn uses(text: &str) -> Vec<Use> {
    uses_of(text, &["crate::", "super::", "self::"])
}

/// Every path starting with one of `roots` in the non-test code of a file.
fn uses_of(text: &str, roots: &[&str]) -> Vec<Use> {
    let lines = library_lines(text);
    let mut out = Vec::new();
    // `use` items first (they may span lines and hold `{…}` groups), then paths in code.
    let mut pending: Option<(usize, String)> = None;
    for (n, line) in &lines {
        let trimmed = line.trim();
        let start = ["use ", "pub use ", "pub(crate) use "]
            .iter()
            .find_map(|p| trimmed.strip_prefix(p));
        match &mut pending {
            Some((_, item)) => item.push_str(trimmed),
            None => match start {
                Some(rest) => pending = Some((*n, rest.to_string())),
                None => {
                    scan_paths(*n, line, roots, &mut out);
                    continue;
                }
            },
        }
        if let Some((first, item)) = pending.take_if(|(_, item)| item.contains(';')) {
            let item = item.trim_end_matches(';');
            for path in expand(item) {
                let path = path
                    .split(" as ")
                    .next()
                    .unwrap_or(&path)
                    .trim()
                    .to_string();
                if roots.iter().any(|p| path.starts_with(p)) {
                    out.push(Use { line: first, path });
                }
            }
        }
    }
    out
}

fn scan_paths(line_no: usize, line: &str, roots: &[&str], out: &mut Vec<Use>) {
    for keyword in roots.iter().filter(|r| **r != "self::") {
        let mut from = 0;
        while let Some(pos) = line[from..].find(keyword) {
            let at = from + pos;
            from = at + keyword.len();
            if line[..at].chars().next_back().is_some_and(is_ident) {
                continue;
            }
            let end = line[at..]
                .find(|c: char| !(is_ident(c) || c == ':'))
                .map_or(line.len(), |e| at + e);
            out.push(Use {
                line: line_no,
                path: line[at..end].trim_end_matches(':').to_string(),
            });
        }
    }
}

/// The file a path points into: the longest module prefix that is a file.
fn resolve(
    me: &[String],
    is_dir_module: bool,
    path: &str,
    files: &BTreeMap<Vec<String>, String>,
) -> Option<String> {
    let mut segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let mut base: Vec<String> = Vec::new();
    match segs.first().copied() {
        Some("crate") => {
            segs.remove(0);
        }
        Some("self") => {
            base = me.to_vec();
            segs.remove(0);
        }
        Some("super") => {
            base = me.to_vec();
            segs.remove(0);
            if !is_dir_module {
                base.pop();
            }
            while segs.first() == Some(&"super") {
                segs.remove(0);
                base.pop();
            }
            // In a file `a/b.rs`, `super` is `a`; `super::super` goes one further.
            if is_dir_module {
                base.pop();
            }
        }
        _ => return None,
    }
    let full: Vec<String> = base
        .into_iter()
        .chain(segs.iter().map(|s| s.to_string()))
        .collect();
    (0..=full.len())
        .rev()
        .find_map(|n| files.get(&full[..n]).cloned())
}

struct Graph {
    /// file → files it uses, each with the first line that does.
    edges: BTreeMap<String, BTreeMap<String, (usize, String)>>,
    modules: BTreeMap<String, Vec<String>>,
}

fn graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("phases/src");
    let mut paths = Vec::new();
    rust_files(&src, &mut paths);
    // A `tests.rs` file is a `#[cfg(test)]` module of its parent.
    paths.retain(|p| p.file_name().is_none_or(|f| f != "tests.rs"));
    let mut files = BTreeMap::new();
    let mut modules = BTreeMap::new();
    for p in &paths {
        let rel = p.strip_prefix(&src).unwrap();
        let name = rel.to_string_lossy().into_owned();
        files.insert(module_of(rel), name.clone());
        modules.insert(name, module_of(rel));
    }
    let mut edges = BTreeMap::new();
    for p in &paths {
        let rel = p.strip_prefix(&src).unwrap();
        let name = rel.to_string_lossy().into_owned();
        let dir_module = matches!(
            rel.file_name().and_then(|f| f.to_str()),
            Some("mod.rs" | "lib.rs")
        );
        let text = std::fs::read_to_string(p).unwrap();
        let mut out: BTreeMap<String, (usize, String)> = BTreeMap::new();
        for u in uses(&text) {
            if let Some(target) = resolve(&modules[&name], dir_module, &u.path, &files)
                && target != name
            {
                out.entry(target).or_insert((u.line, u.path));
            }
        }
        edges.insert(name, out);
    }
    Graph { edges, modules }
}

#[test]
fn lower_tiers_never_import_higher_ones() {
    let g = graph();
    let mut problems = Vec::new();
    for (file, targets) in &g.edges {
        let from = tier(&g.modules[file]);
        for (target, (line, path)) in targets {
            let to = tier(&g.modules[target]);
            if !allowed(from, to) {
                problems.push(format!(
                    "phases/src/{file}:{line}: `{path}` ({from:?} must not use {to:?}: {target})"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

/// The folder of phase steps a module is in (`phases/<subject>/…`), if it is one.
fn subject_folder(module: &[String], modules: &BTreeMap<String, Vec<String>>) -> Option<String> {
    match module {
        [first, subject, ..] if first == "phases" => {
            let folder = format!("phases/{subject}/mod.rs");
            modules.contains_key(&folder).then(|| subject.clone())
        }
        _ => None,
    }
}

#[test]
fn a_folder_of_phase_steps_is_used_from_outside_only_through_its_mod_rs() {
    let g = graph();
    let mut problems = Vec::new();
    for (file, targets) in &g.edges {
        let from = subject_folder(&g.modules[file], &g.modules);
        for (target, (line, path)) in targets {
            let Some(subject) = subject_folder(&g.modules[target], &g.modules) else {
                continue;
            };
            if from.as_deref() != Some(subject.as_str()) && g.modules[target].len() > 2 {
                problems.push(format!(
                    "phases/src/{file}:{line}: `{path}` reaches into phases/{subject}/ ({target}): use what phases/{subject}/mod.rs re-exports"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn the_command_line_reaches_the_library_through_workflows_and_infrastructure() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    rust_files(&src, &mut paths);
    paths.retain(|p| p.file_name().is_none_or(|f| f != "tests.rs"));
    let mut problems = Vec::new();
    for p in &paths {
        let text = std::fs::read_to_string(p).unwrap();
        for u in uses_of(&text, &["kubestrap_phases::"]) {
            let top = u.path.split("::").nth(1).unwrap_or_default();
            if top != "workflows" && !INFRASTRUCTURE.contains(&top) {
                problems.push(format!(
                    "{}:{}: `{}`: the command line uses the library through `workflows` or infrastructure ({})",
                    p.strip_prefix(&src).unwrap().display(),
                    u.line,
                    u.path,
                    INFRASTRUCTURE.join(", ")
                ));
            }
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn no_import_cycles_between_files() {
    let g = graph();
    // Tarjan's strongly connected components.
    struct State<'a> {
        g: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        groups: Vec<Vec<&'a str>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.g.edges[v].keys() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut group = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                group.push(w);
                if w == v {
                    break;
                }
            }
            if group.len() > 1 {
                s.groups.push(group);
            }
        }
    }
    let mut s = State {
        g: &g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        groups: Vec::new(),
    };
    for v in g.edges.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    let report: Vec<String> = s
        .groups
        .iter()
        .map(|group| {
            let members: BTreeSet<&str> = group.iter().copied().collect();
            let mut lines = vec![format!("cycle between {}:", group.join(", "))];
            for file in &members {
                for (target, (line, path)) in &g.edges[*file] {
                    if members.contains(target.as_str()) {
                        lines.push(format!("  phases/src/{file}:{line}: `{path}` → {target}"));
                    }
                }
            }
            lines.join("\n")
        })
        .collect();
    assert!(report.is_empty(), "\n{}", report.join("\n"));
}

#[test]
fn the_reader_sees_grouped_and_relative_uses() {
    let text = "use crate::a::{b, c::{d, e as f}};\nuse super::g;\nfn x() { crate::h::i(); }\n#[cfg(test)]\nmod tests { use crate::z; }\n";
    let paths: Vec<String> = uses(text).into_iter().map(|u| u.path).collect();
    assert_eq!(
        paths,
        [
            "crate::a::b",
            "crate::a::c::d",
            "crate::a::c::e",
            "super::g",
            "crate::h::i"
        ]
    );
    let mut files = BTreeMap::new();
    for m in [vec![], vec!["a".to_string()], vec!["a".into(), "b".into()]] {
        files.insert(m.clone(), format!("{m:?}"));
    }
    let me = vec!["a".to_string(), "b".to_string()];
    assert_eq!(
        resolve(&me, false, "super::b::x", &files).as_deref(),
        Some("[\"a\", \"b\"]")
    );
    assert_eq!(
        resolve(&["a".to_string()], true, "super::q", &files).as_deref(),
        Some("[]")
    );
    assert_eq!(
        resolve(&me, false, "crate::a::zz", &files).as_deref(),
        Some("[\"a\"]")
    );
}
