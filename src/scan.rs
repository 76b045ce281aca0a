//! Source scanning: which tests the sources *declare*, whether or not they
//! build.
//!
//! [`scan_target`] parses a test target's root file with syn and follows its
//! module tree the way rustc does (`mod a;` → `a.rs` or `a/mod.rs`, nested
//! modules of a non-`mod.rs` file in its own folder, `#[path]`), collecting
//! every function carrying `#[tiered::test(...)]` with the libtest-style name
//! it will have in the binary. This is the denominator of every rate, so it
//! must not depend on the compiler: a target with a type error still declares
//! its tests. `#[cfg]` is not evaluated — a test compiled out shows up as
//! declared but not discovered, which is what it is.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use proc_macro2::TokenTree;
use syn::{Attribute, Item};

/// A test found in the sources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredTest {
    /// libtest-style name: module path inside the target, then the function.
    pub name: String,
    /// The `tier = N` of the attribute, when it is 1–3.
    pub tier: Option<u8>,
    /// The file it is declared in.
    pub file: PathBuf,
    /// Its line.
    pub line: usize,
}

/// A source file that could not be read or parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanProblem {
    /// The file.
    pub file: PathBuf,
    /// The line, when known.
    pub line: usize,
    /// What went wrong.
    pub message: String,
}

/// What a target's sources declare.
#[derive(Debug, Clone, Default)]
pub struct ScanResult {
    /// Declared tests.
    pub tests: Vec<DeclaredTest>,
    /// Files that could not be scanned.
    pub problems: Vec<ScanProblem>,
    /// Every file of the module tree that was read.
    pub files: Vec<PathBuf>,
}

/// Scans the target whose crate root is `root`.
pub fn scan_target(root: &Path) -> ScanResult {
    let mut scanner = Scanner::default();
    let dir = root.parent().unwrap_or(Path::new(".")).to_path_buf();
    scanner.file(root, &dir, &[]);
    ScanResult {
        tests: scanner.tests,
        problems: scanner.problems,
        files: scanner.files,
    }
}

/// Scans source text as if it were the root file `path` (no `mod x;` files
/// are followed unless they exist next to `path`).
pub fn scan_source(text: &str, path: &Path) -> ScanResult {
    let mut scanner = Scanner::default();
    let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    scanner.text(text, path, &dir, &[]);
    ScanResult {
        tests: scanner.tests,
        problems: scanner.problems,
        files: vec![path.to_path_buf()],
    }
}

#[derive(Default)]
struct Scanner {
    tests: Vec<DeclaredTest>,
    problems: Vec<ScanProblem>,
    seen: HashSet<PathBuf>,
    files: Vec<PathBuf>,
}

impl Scanner {
    /// `child_dir`: where `mod x;` inside this file looks for `x.rs`.
    fn file(&mut self, path: &Path, child_dir: &Path, prefix: &[String]) {
        if !self.seen.insert(path.to_path_buf()) {
            return;
        }
        self.files.push(path.to_path_buf());
        match std::fs::read_to_string(path) {
            Ok(text) => self.text(&text, path, child_dir, prefix),
            Err(e) => self.problems.push(ScanProblem {
                file: path.to_path_buf(),
                line: 0,
                message: format!("cannot read: {e}"),
            }),
        }
    }

    fn text(&mut self, text: &str, path: &Path, child_dir: &Path, prefix: &[String]) {
        match syn::parse_file(text) {
            Ok(ast) => self.items(&ast.items, path, child_dir, prefix, false),
            Err(e) => self.problems.push(ScanProblem {
                file: path.to_path_buf(),
                line: e.span().start().line,
                message: e.to_string(),
            }),
        }
    }

    fn items(
        &mut self,
        items: &[Item],
        file: &Path,
        child_dir: &Path,
        prefix: &[String],
        inline: bool,
    ) {
        for item in items {
            match item {
                Item::Fn(f) => {
                    if let Some(attr) = f.attrs.iter().find(|a| is_tiered_test(a)) {
                        let mut name = prefix.join("::");
                        if !name.is_empty() {
                            name.push_str("::");
                        }
                        name.push_str(&f.sig.ident.to_string());
                        self.tests.push(DeclaredTest {
                            name,
                            tier: tier_of(attr),
                            file: file.to_path_buf(),
                            line: f.sig.ident.span().start().line,
                        });
                    }
                }
                Item::Mod(m) => {
                    let name = m.ident.to_string();
                    let mut child_prefix = prefix.to_vec();
                    child_prefix.push(name.clone());
                    let path_attr = path_attr(&m.attrs);
                    if let Some((_, content)) = &m.content {
                        let dir = child_dir.join(path_attr.as_deref().unwrap_or(&name));
                        self.items(content, file, &dir, &child_prefix, true);
                        continue;
                    }
                    let (target, target_child_dir) = match path_attr {
                        Some(p) => {
                            let base = if inline {
                                child_dir.to_path_buf()
                            } else {
                                file.parent().unwrap_or(Path::new(".")).to_path_buf()
                            };
                            let t = base.join(p);
                            let d = t.parent().unwrap_or(Path::new(".")).to_path_buf();
                            (t, d)
                        }
                        None => {
                            let flat = child_dir.join(format!("{name}.rs"));
                            if flat.is_file() {
                                (flat, child_dir.join(&name))
                            } else {
                                let nested = child_dir.join(&name).join("mod.rs");
                                (nested, child_dir.join(&name))
                            }
                        }
                    };
                    if target.is_file() {
                        self.file(&target, &target_child_dir, &child_prefix);
                    } else {
                        self.problems.push(ScanProblem {
                            file: file.to_path_buf(),
                            line: m.ident.span().start().line,
                            message: format!("module `{name}` not found at {}", target.display()),
                        });
                    }
                }
                _ => {}
            }
        }
    }
}

fn is_tiered_test(attr: &Attribute) -> bool {
    let segs: Vec<String> = attr
        .path()
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    segs == ["tiered", "test"]
}

/// The `tier = N` inside the attribute's arguments.
fn tier_of(attr: &Attribute) -> Option<u8> {
    let syn::Meta::List(list) = &attr.meta else {
        return None;
    };
    let tokens: Vec<TokenTree> = list.tokens.clone().into_iter().collect();
    tokens.windows(3).find_map(|w| match w {
        [TokenTree::Ident(i), TokenTree::Punct(p), TokenTree::Literal(l)]
            if i == "tier" && p.as_char() == '=' =>
        {
            l.to_string()
                .parse::<u8>()
                .ok()
                .filter(|t| (1..=3).contains(t))
        }
        _ => None,
    })
}

fn path_attr(attrs: &[Attribute]) -> Option<String> {
    attrs.iter().find_map(|a| {
        if !a.path().is_ident("path") {
            return None;
        }
        match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => Some(s.value()),
                _ => None,
            },
            _ => None,
        }
    })
}
