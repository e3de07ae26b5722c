//! The layout reads as the flow: no source file imports another that
//! imports it back, directly or through others, in any crate of the
//! workspace. A cycle means two files share something that belongs in a
//! third (a leaf module with the shared types or constants), so the
//! dependencies point one way and a file can be read before its users.
//!
//! A file depends on another when it names a path into that file's module:
//! `use crate::a::b::X`, `super::x::f()`, `child::f()` from a parent, or a
//! `use` of an item a parent module declares itself. A `#[cfg(test)]`
//! module is a leaf nothing imports, so what it imports closes no cycle.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;

fn pattern(text: &str) -> Regex {
    Regex::new(text).expect("a valid pattern")
}

/// `mod name;` with its attributes (a `#[path]` among them, maybe).
static MOD_DECL: LazyLock<Regex> = LazyLock::new(|| {
    pattern(r"((?:#\[[^\]]*\]\s*)*)(?:pub(?:\([^)]*\))?\s+)?mod\s+([A-Za-z_][A-Za-z0-9_]*)\s*;")
});
static PATH_ATTR: LazyLock<Regex> = LazyLock::new(|| pattern(r#"#\[path\s*=\s*"([^"]+)"\]"#));
/// What the edges are read from, in a file without comments or strings:
/// an inline module opening, a brace, a `use` item, a path from `crate`,
/// `super` or `self`, or any other path (a child module's, maybe).
static TOKEN: LazyLock<Regex> = LazyLock::new(|| {
    pattern(concat!(
        r"\bmod\s+([A-Za-z_][A-Za-z0-9_]*)\s*\{",
        r"|\{|\}",
        r"|\buse\s+([^;]+);",
        r"|\b((?:crate|super|self)(?:\s*::\s*(?:[A-Za-z_][A-Za-z0-9_]*|\*))+)",
        r"|\b([A-Za-z_][A-Za-z0-9_]*)\s*::\s*[A-Za-z_]",
    ))
});
/// `#[cfg(test)]` (and any other attributes) right before a `mod`.
static TEST_ATTRIBUTE: LazyLock<Regex> =
    LazyLock::new(|| pattern(r"#\[cfg\(test\)\]\s*(?:#\[[^\]]*\]\s*)*(?:pub(?:\([^)]*\))?\s+)?$"));
static ALIAS: LazyLock<Regex> = LazyLock::new(|| pattern(r"\s+as\s+[A-Za-z_][A-Za-z0-9_]*"));

/// Every crate root of the workspace with modules of its own.
const ROOTS: [&str; 3] = ["src/lib.rs", "fakeapi/src/lib.rs", "helpdesk/src/lib.rs"];

#[test]
fn no_source_file_is_in_an_import_cycle() {
    let mut found = Vec::new();
    for root in ROOTS {
        let tree = ModuleTree::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join(root));
        let edges = tree.edges();
        for cycle in cycles(&edges) {
            let members: BTreeSet<&PathBuf> = cycle.iter().collect();
            let mut lines = Vec::new();
            for from in &cycle {
                for (to, line) in &edges[from] {
                    if members.contains(to) {
                        lines.push(format!(
                            "  {}:{line} -> {}",
                            tree.relative(from),
                            tree.relative(to)
                        ));
                    }
                }
            }
            found.push(lines.join("\n"));
        }
    }
    assert!(
        found.is_empty(),
        "files that import each other:\n{}",
        found.join("\n\n")
    );
}

#[test]
fn a_cycle_through_a_parent_module_is_found_and_test_modules_are_leaves() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let write = |path: &str, text: &str| {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    };
    write("lib.rs", "mod a;\nmod b;\n");
    write(
        "a/mod.rs",
        "mod child;\npub struct Shared;\nfn f() { child::g(); }\n",
    );
    write(
        "a/child.rs",
        "use super::Shared;\npub fn g() {}\n#[cfg(test)]\nmod tests {\n    use crate::b::S;\n}\n",
    );
    write(
        "b.rs",
        "// use crate::a::Shared;\npub const S: &str = \"crate::a\";\nfn h() { crate::a::child::g(); }\n",
    );
    let tree = ModuleTree::load(&dir.path().join("lib.rs"));
    let found: Vec<Vec<String>> = cycles(&tree.edges())
        .iter()
        .map(|c| c.iter().map(|f| tree.relative(f)).collect())
        .collect();
    assert_eq!(found, vec![vec!["a/child.rs", "a/mod.rs"]]);
}

type Edges = BTreeMap<PathBuf, BTreeSet<(PathBuf, usize)>>;

/// A `mod name { ... }` open at a brace depth; `test` when it is
/// `#[cfg(test)]`.
struct Inline {
    name: String,
    depth: usize,
    test: bool,
}

struct ModuleTree {
    base: PathBuf,
    /// Each file and the module path it defines (`[]` for the crate root).
    files: BTreeMap<PathBuf, Vec<String>>,
    modules: HashMap<Vec<String>, PathBuf>,
}

impl ModuleTree {
    fn load(root: &Path) -> Self {
        let base = root.parent().expect("a crate root in a folder").to_owned();
        let mut tree = ModuleTree {
            base,
            files: BTreeMap::new(),
            modules: HashMap::new(),
        };
        tree.add(root, Vec::new());
        tree
    }

    fn relative(&self, file: &Path) -> String {
        file.strip_prefix(&self.base)
            .unwrap_or(file)
            .display()
            .to_string()
    }

    /// Adds `file` as module `path` and, through its `mod x;` items, the
    /// files of its child modules.
    fn add(&mut self, file: &Path, path: Vec<String>) {
        let raw = std::fs::read_to_string(file).expect("a readable source file");
        let code = strip(&raw);
        let dir = file.parent().expect("a folder").to_owned();
        let own_dir = match file.file_name().and_then(|n| n.to_str()) {
            Some("lib.rs" | "main.rs" | "mod.rs") => dir.clone(),
            _ => dir.join(file.file_stem().expect("a file name")),
        };
        self.files.insert(file.to_owned(), path.clone());
        self.modules.insert(path.clone(), file.to_owned());
        for m in MOD_DECL.captures_iter(&raw) {
            let whole = m.get(0).expect("the match");
            // Declarations in comments or strings are blanked in `code`.
            if !code[whole.start()..whole.end()].contains("mod") {
                continue;
            }
            let name = m[2].to_owned();
            let child = match PATH_ATTR.captures(&m[1]) {
                Some(p) => dir.join(&p[1]),
                None => {
                    let flat = own_dir.join(format!("{name}.rs"));
                    if flat.exists() {
                        flat
                    } else {
                        own_dir.join(&name).join("mod.rs")
                    }
                }
            };
            let mut child_path = path.clone();
            child_path.push(name);
            self.add(&child, child_path);
        }
    }

    fn is_module(&self, path: &[String]) -> bool {
        self.modules.contains_key(path)
    }

    /// The file whose module holds what `path` names: its longest prefix
    /// that is a file's module.
    fn file_of(&self, path: &[String]) -> Option<&PathBuf> {
        (0..=path.len())
            .rev()
            .find_map(|n| self.modules.get(&path[..n]))
    }

    fn edges(&self) -> Edges {
        let mut edges = Edges::new();
        for (file, module) in &self.files {
            let code = strip(&std::fs::read_to_string(file).expect("a readable source file"));
            let out = edges.entry(file.clone()).or_default();
            // Inline modules (`mod tests { ... }`) open at a brace depth.
            let mut inline: Vec<Inline> = Vec::new();
            let mut depth = 0;
            for m in TOKEN.captures_iter(&code) {
                let at = m.get(0).expect("the match").start();
                let line = code[..at].matches('\n').count() + 1;
                let mut here = module.clone();
                here.extend(inline.iter().map(|i| i.name.clone()));
                let mut paths: Vec<Vec<String>> = Vec::new();
                if let Some(name) = m.get(1) {
                    depth += 1;
                    inline.push(Inline {
                        name: name.as_str().to_owned(),
                        depth,
                        test: TEST_ATTRIBUTE.is_match(&code[..at]),
                    });
                    continue;
                } else if inline.iter().any(|i| i.test)
                    && m.get(2).or(m.get(3)).or(m.get(4)).is_some()
                {
                    // A test module is a leaf nothing imports: what it
                    // imports (the parent's parser, say) closes no cycle.
                    continue;
                } else if let Some(tree) = m.get(2) {
                    paths = expand_use(tree.as_str());
                } else if let Some(path) = m.get(3) {
                    paths.push(segments(path.as_str()));
                } else if let Some(first) = m.get(4) {
                    // Only a path's first segment: `a::b::c` is not `b::c`.
                    if code[..at].trim_end().ends_with("::") {
                        continue;
                    }
                    paths.push(vec![first.as_str().to_owned()]);
                } else if &m[0] == "{" {
                    depth += 1;
                    continue;
                } else {
                    if inline.last().is_some_and(|i| i.depth == depth) {
                        inline.pop();
                    }
                    depth -= 1;
                    continue;
                }
                for path in paths {
                    let Some(absolute) = self.absolute(&here, &path) else {
                        continue;
                    };
                    if let Some(target) = self.file_of(&absolute)
                        && target != file
                    {
                        out.insert((target.clone(), line));
                    }
                }
            }
        }
        edges
    }

    /// `path` as named from module `here`, from the crate root; `None` for
    /// paths outside the crate (std, dependencies, local names).
    fn absolute(&self, here: &[String], path: &[String]) -> Option<Vec<String>> {
        let (mut base, mut rest) = match path.first().map(String::as_str) {
            Some("crate") => (Vec::new(), &path[1..]),
            Some("super" | "self") => (here.to_vec(), path),
            Some(first) => {
                let mut child = here.to_vec();
                child.push(first.to_owned());
                if !self.is_module(&child) {
                    return None;
                }
                (here.to_vec(), path)
            }
            None => return None,
        };
        while let Some(step) = rest.first().map(String::as_str) {
            match step {
                "super" => {
                    base.pop();
                }
                "self" => {}
                _ => break,
            }
            rest = &rest[1..];
        }
        base.extend(rest.iter().filter(|s| *s != "*").cloned());
        Some(base)
    }
}

fn segments(path: &str) -> Vec<String> {
    path.split("::")
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Every path a `use` tree names: `a::{b, c::{d as e}}` is `a::b`, `a::c::d`.
fn expand_use(tree: &str) -> Vec<Vec<String>> {
    let tree: String = ALIAS
        .replace_all(tree, "")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let mut out = Vec::new();
    expand_into(&[], &tree, &mut out);
    out
}

fn expand_into(prefix: &[String], list: &str, out: &mut Vec<Vec<String>>) {
    let mut depth = 0;
    let mut start = 0;
    let mut parts = Vec::new();
    for (i, c) in list.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&list[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&list[start..]);
    for part in parts.into_iter().filter(|p| !p.is_empty()) {
        let mut path = prefix.to_vec();
        match (part.find('{'), part.rfind('}')) {
            (Some(open), Some(close)) => {
                path.extend(segments(&part[..open]));
                expand_into(&path, &part[open + 1..close], out);
            }
            _ => {
                path.extend(segments(part));
                out.push(path);
            }
        }
    }
}

/// The source with comments, strings and character literals blanked out
/// (same length, same lines), so only code is searched.
fn strip(source: &str) -> String {
    let bytes = source.as_bytes();
    let mut out = bytes.to_vec();
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for b in &mut out[from..to] {
            if *b != b'\n' {
                *b = b' ';
            }
        }
    };
    let mut i = 0;
    while i < bytes.len() {
        let rest = &bytes[i..];
        let after_ident = i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if rest.starts_with(b"//") {
            let end = rest
                .iter()
                .position(|&b| b == b'\n')
                .map_or(bytes.len(), |n| i + n);
            blank(&mut out, i, end);
            i = end;
        } else if rest.starts_with(b"/*") {
            let (mut depth, mut j) = (1, i + 2);
            while j < bytes.len() && depth > 0 {
                if bytes[j..].starts_with(b"/*") {
                    depth += 1;
                    j += 2;
                } else if bytes[j..].starts_with(b"*/") {
                    depth -= 1;
                    j += 2;
                } else {
                    j += 1;
                }
            }
            blank(&mut out, i, j);
            i = j;
        } else if !after_ident
            && (rest.starts_with(b"r\"") || rest.starts_with(b"r#") || rest.starts_with(b"br"))
        {
            let start = i + if rest[0] == b'b' { 2 } else { 1 };
            let hashes = bytes[start..].iter().take_while(|&&b| b == b'#').count();
            if bytes.get(start + hashes) != Some(&b'"') {
                i += 1;
                continue;
            }
            let mut close = vec![b'"'];
            close.extend(std::iter::repeat_n(b'#', hashes));
            let body = start + hashes + 1;
            let end = bytes[body..]
                .windows(close.len())
                .position(|w| w == close.as_slice())
                .map_or(bytes.len(), |n| body + n + close.len());
            blank(&mut out, i, end);
            i = end;
        } else if rest[0] == b'"' {
            let mut j = i + 1;
            while j < bytes.len() && bytes[j] != b'"' {
                j += if bytes[j] == b'\\' { 2 } else { 1 };
            }
            let end = (j + 1).min(bytes.len());
            blank(&mut out, i, end);
            i = end;
        } else if rest[0] == b'\'' {
            // A character literal ('a', '\n', '\u{1F600}'), not a lifetime.
            let end = if rest.get(1) == Some(&b'\\') {
                rest.iter()
                    .skip(3)
                    .position(|&b| b == b'\'')
                    .map(|n| i + n + 4)
            } else {
                let width = source[i + 1..].chars().next().map_or(1, char::len_utf8);
                (rest.get(1 + width) == Some(&b'\'')).then_some(i + 2 + width)
            };
            match end {
                Some(end) => {
                    blank(&mut out, i, end);
                    i = end;
                }
                None => i += 1,
            }
        } else {
            i += 1;
        }
    }
    // Blanked characters became one space per byte, so offsets and lines
    // are the source's.
    String::from_utf8(out).unwrap_or_default()
}

/// Strongly connected components of more than one file (Tarjan).
fn cycles(edges: &Edges) -> Vec<Vec<PathBuf>> {
    struct Walk<'a> {
        edges: &'a Edges,
        index: HashMap<&'a PathBuf, usize>,
        low: HashMap<&'a PathBuf, usize>,
        stack: Vec<&'a PathBuf>,
        on_stack: BTreeSet<&'a PathBuf>,
        found: Vec<Vec<PathBuf>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, v: &'a PathBuf) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            self.on_stack.insert(v);
            for (w, _) in self.edges.get(v).into_iter().flatten() {
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.on_stack.contains(w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    component.push(w.clone());
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut walk = Walk {
        edges,
        index: HashMap::new(),
        low: HashMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !walk.index.contains_key(v) {
            walk.visit(v);
        }
    }
    walk.found
}
