//! Between crates, the compiler holds the layers. Inside the two crates that have layers of
//! their own, the core (domain → ports → vault) and the edge (dialect → idempotent → lambda),
//! each module may name (`crate::…`) only the modules listed for it here, so an import that
//! points up, or a cycle, fails this test.
//! Test code (`#[cfg(test)]` modules, `tests/` folders) is exempt: it may wire anything.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The core's modules (`shared/core/src`), and what each may use. A new module needs an entry.
const CORE: &[(&str, &[&str])] = &[
    // The bottom: the types every layer speaks.
    ("error", &[]),
    ("domain", &["error"]),
    ("cache", &[]),
    // A leaf: a rule counts a metric the way it logs, through a tracing event.
    ("telemetry", &[]),
    // What the rules need, and the rules.
    ("ports", &["domain", "error"]),
    ("vault", &["domain", "error", "ports", "cache", "telemetry"]),
    // The audit chainer's rules, over the ports like the vault's.
    ("chain", &["domain", "ports"]),
    // Envelope encryption over the key ports: the rules never name it, the wiring does.
    ("crypto", &["domain", "ports"]),
    (
        "lib",
        &[
            "cache",
            "chain",
            "crypto",
            "domain",
            "error",
            "ports",
            "telemetry",
            "vault",
        ],
    ),
];

/// The edge's modules (`shared/edge/src`). What the crate root re-exports from the core
/// and the adapters (`crate::domain`, `crate::store`, …) counts under that name.
const EDGE: &[(&str, &[&str])] = &[
    ("auth", &["domain", "error"]),
    ("http", &["error"]),
    ("cors", &["domain", "error"]),
    ("dialect", &["domain", "error", "vault", "http", "cors"]),
    ("config", &["auth", "domain"]),
    // Wiring: the one module that names the adapters, and the app built from them.
    (
        "deps",
        &[
            "aws",
            "config",
            "crypto",
            "domain",
            "net",
            "ports",
            "recaptcha",
            "secret",
            "secrets",
            "store",
            "stripe",
        ],
    ),
    (
        "app",
        &[
            "auth", "aws", "config", "deps", "domain", "error", "ports", "store", "vault",
        ],
    ),
    (
        "idempotent",
        &[
            "app", "auth", "cors", "deps", "dialect", "domain", "error", "http", "vault",
        ],
    ),
    (
        "lambda",
        &[
            "app",
            "auth",
            "deps",
            "domain",
            "error",
            "http",
            "idempotent",
            "telemetry",
        ],
    ),
    (
        "lib",
        &[
            "app",
            "audit_stream",
            "auth",
            "aws",
            "caller_identity",
            "config",
            "cors",
            "crypto",
            "deps",
            "dialect",
            "domain",
            "error",
            "http",
            "idempotent",
            "lambda",
            "net",
            "ports",
            "recaptcha",
            "secrets",
            "store",
            "stripe",
            "telemetry",
            "vault",
        ],
    ),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "tests") {
                continue;
            }
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let name = path.file_name().unwrap().to_string_lossy();
            if name != "tests.rs" && !name.ends_with("_tests.rs") {
                out.push(path);
            }
        }
    }
}

/// The code of a source: no comments, and nothing from its first `#[cfg(test)]` on (the
/// `mod tests` that closes a file).
fn code_of(src: &str) -> String {
    let code = match src.find("#[cfg(test)]") {
        Some(i) => &src[..i],
        None => src,
    };
    code.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

fn ident(s: &str) -> String {
    s.trim()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// The top-level modules a source names as `crate::x` or in `use crate::{x, …}` groups.
fn crate_refs(src: &str) -> BTreeSet<String> {
    let mut refs = BTreeSet::new();
    let mut rest = src;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // The first name of each item at the group's own depth.
            let (mut depth, mut start) = (0, true);
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    _ if start && !c.is_whitespace() => {
                        start = false;
                        let name = ident(&group[i..]);
                        if !name.is_empty() {
                            refs.insert(name);
                        }
                    }
                    _ => {}
                }
            }
        } else {
            refs.insert(ident(rest));
        }
    }
    refs
}

fn module_of(src_root: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src_root).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_owned()
}

/// The layering violations in the crate at `src_root`, against `table`.
fn violations(src_root: &Path, table: &[(&str, &[&str])]) -> Vec<String> {
    let allowed: BTreeMap<&str, &[&str]> = table.iter().copied().collect();
    let mut files = Vec::new();
    rust_files(src_root, &mut files);
    assert!(files.len() > 10, "found only {} files", files.len());
    let mut violations = Vec::new();
    for file in &files {
        let module = module_of(src_root, file);
        let Some(may) = allowed.get(module.as_str()) else {
            violations.push(format!(
                "{}: module {module} has no entry in its table",
                file.display()
            ));
            continue;
        };
        let src = std::fs::read_to_string(file).unwrap();
        for used in crate_refs(&code_of(&src)) {
            // `crate::Error` and the like are re-exports at the root; `self` is local.
            let used = match used.as_str() {
                "Error" | "FieldError" => "error".to_owned(),
                "App" => "app".to_owned(),
                _ => used,
            };
            if used != module && !may.contains(&used.as_str()) {
                violations.push(format!("{}: {module} uses {used}", file.display()));
            }
        }
    }
    violations
}

/// Between crates the compiler holds the layers (a crate names only its dependencies);
/// inside the core and the edge, this does: each module names only those below it.
#[test]
fn modules_only_import_from_the_layers_below_them() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut found = violations(&shared.join("core/src"), CORE);
    found.extend(violations(&shared.join("edge/src"), EDGE));
    assert!(
        found.is_empty(),
        "layering violations:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_reference_scanner_sees_groups_and_paths() {
    let refs = crate_refs("use crate::{domain::X, ports::{A, B}};\nlet x = crate::vault::f();");
    assert_eq!(
        refs.into_iter().collect::<Vec<_>>(),
        ["domain", "ports", "vault"]
    );
}
