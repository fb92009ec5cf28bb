//! The sensor's modules form layers (ARCHITECTURE.md, "Dependency rules"):
//! a module's code names only modules of lower layers, so there are no
//! cycles and a stage can be read without the ones above it. Test code
//! (`tests.rs`, `testing.rs`, `mod tests`) may use anything.

use std::collections::BTreeMap;
use std::path::Path;

/// Lowest first. A module may use the modules of the layers before its own.
const LAYERS: &[&[&str]] = &[
    &["capture", "signals", "privileges"],
    &["decode"],
    &["transaction", "rules"],
    &["timing", "aggregate"],
    &["plugins", "backends"],
    &["flow"],
    &["records"],
    &["metrics", "report"],
    &["export", "worker"],
    &["config"],
    &["session", "fuzzing"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// Every `crate::MODULE` a file's non-test code names.
fn uses(text: &str) -> Vec<String> {
    let code = match text.find("#[cfg(test)]\nmod tests {") {
        Some(i) => &text[..i],
        None => text,
    };
    code.match_indices("crate::")
        .map(|(i, _)| code[i + 7..].chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect())
        .filter(|m: &String| !m.is_empty())
        .collect()
}

fn visit(dir: &Path, root: &Path, out: &mut BTreeMap<String, Vec<(String, String)>>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            visit(&path, root, out);
            continue;
        }
        let name = path.file_name().unwrap().to_str().unwrap();
        if !name.ends_with(".rs") || name == "tests.rs" || name == "testing.rs" {
            continue;
        }
        let rel = path.strip_prefix(root).unwrap().to_str().unwrap().to_owned();
        let module = rel.split('/').next().unwrap().trim_end_matches(".rs").to_owned();
        if module == "main" || module == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for used in uses(&text) {
            out.entry(module.clone()).or_default().push((used, rel.clone()));
        }
    }
}

#[test]
fn modules_use_only_lower_layers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut used = BTreeMap::new();
    visit(&root, &root, &mut used);
    let mut wrong = Vec::new();
    for (module, uses) in &used {
        let Some(own) = layer_of(module) else {
            wrong.push(format!("{module}: not in LAYERS (tests/layering.rs and ARCHITECTURE.md)"));
            continue;
        };
        for (other, file) in uses {
            match layer_of(other) {
                _ if other == module => {}
                Some(l) if l < own => {}
                // Items of the crate root (Direction, FileError, io_reason).
                None if !root.join(format!("{other}.rs")).exists() && !root.join(other).is_dir() => {}
                _ => wrong.push(format!("{file}: {module} uses {other}, which is not below it")),
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
