//! The codemap is enforced, as rust-analyzer's tidy tests enforce theirs: the
//! dependency rules in ARCHITECTURE.md are read from the document itself and
//! compared, edge for edge, with what `cargo metadata` says the crates depend on;
//! and the house rules that keep libraries free of I/O policy are checked by
//! reading their sources.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `crate → Veil crates it may depend on` from the ```` ```deps ```` block of
/// ARCHITECTURE.md (lines `name: dep, dep`).
fn codemap_rules() -> BTreeMap<String, BTreeSet<String>> {
    let doc = std::fs::read_to_string(workspace().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let block = doc
        .split("```deps\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("ARCHITECTURE.md has a ```deps block");
    let mut rules = BTreeMap::new();
    for line in block.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (name, deps) =
            line.split_once(':').unwrap_or_else(|| panic!("codemap line {line:?} is not `crate: deps`"));
        let deps: BTreeSet<String> =
            deps.split(',').map(str::trim).filter(|d| !d.is_empty()).map(str::to_owned).collect();
        assert!(
            rules.insert(name.trim().to_owned(), deps).is_none(),
            "{name} is listed twice in the codemap"
        );
    }
    rules
}

/// `cargo metadata` for the workspace's own packages.
fn metadata() -> serde_json::Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(workspace())
        .output()
        .expect("cargo metadata runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("metadata is JSON")
}

/// Every workspace crate and the workspace crates it depends on (normal and build
/// dependencies: what ships; tests and benches may reach further).
fn actual_edges() -> BTreeMap<String, BTreeSet<String>> {
    let meta = metadata();
    let packages = meta["packages"].as_array().expect("packages");
    let members: BTreeSet<String> =
        packages.iter().map(|p| p["name"].as_str().expect("name").to_owned()).collect();
    packages
        .iter()
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .expect("dependencies")
                .iter()
                .filter(|d| d["kind"].is_null() || d["kind"] == "build")
                .filter_map(|d| d["name"].as_str())
                .filter(|d| members.contains(*d))
                .map(str::to_owned)
                .collect();
            (p["name"].as_str().expect("name").to_owned(), deps)
        })
        .collect()
}

#[test]
fn every_dependency_edge_between_veil_crates_is_one_the_codemap_allows() {
    let rules = codemap_rules();
    let actual = actual_edges();
    let mut wrong = Vec::new();
    for (name, deps) in &actual {
        let Some(allowed) = rules.get(name) else {
            wrong.push(format!("{name} is a workspace crate the codemap does not list"));
            continue;
        };
        for d in deps.difference(allowed) {
            wrong.push(format!("{name} depends on {d}, which the codemap does not allow"));
        }
        for d in allowed.difference(deps) {
            wrong.push(format!("the codemap says {name} depends on {d}, but it does not"));
        }
    }
    for name in rules.keys().filter(|n| !actual.contains_key(*n)) {
        wrong.push(format!("the codemap lists {name}, which is not a workspace crate"));
    }
    assert!(wrong.is_empty(), "ARCHITECTURE.md and Cargo.toml disagree:\n{}", wrong.join("\n"));
}

#[test]
fn every_crate_has_a_line_in_the_codemap() {
    let doc = std::fs::read_to_string(workspace().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let described: BTreeSet<&str> =
        doc.lines().filter_map(|l| l.strip_prefix("  ")?.split_whitespace().next()).collect();
    let missing: Vec<String> =
        actual_edges().into_keys().filter(|c| !described.contains(c.as_str())).collect();
    assert!(missing.is_empty(), "crates without a codemap entry: {missing:?}");
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable source dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Lines of library source (not the binary, not tests or benches) that contain one of
/// `needles` outside a comment.
fn library_lines_with(needles: &[&str]) -> Vec<String> {
    let mut hits = Vec::new();
    for name in actual_edges().into_keys().filter(|c| c != "veil") {
        let mut files = Vec::new();
        rust_files(&workspace().join("crates").join(&name).join("src"), &mut files);
        for file in files {
            let text = std::fs::read_to_string(&file).expect("source");
            for (i, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                if needles.iter().any(|n| code.contains(n)) {
                    hits.push(format!("{}:{}: {}", file.display(), i + 1, line.trim()));
                }
            }
        }
    }
    hits
}

#[test]
fn libraries_never_print_exit_or_read_the_environment() {
    let hits = library_lines_with(&[
        "println!",
        "print!(",
        "dbg!(",
        "process::exit",
        "env::var",
        "env::args",
        "env::set_var",
        "env::current_dir",
    ]);
    assert!(hits.is_empty(), "only the binary prints, exits or reads the environment:\n{}", hits.join("\n"));
}

#[test]
fn libraries_never_compare_error_code_strings() {
    let hits = library_lines_with(&[".code == \"", "code() == \"", ".code != \"", "code() != \""]);
    assert!(hits.is_empty(), "match on a typed error instead of its code string:\n{}", hits.join("\n"));
}

#[test]
fn each_crate_links_one_integration_test_binary() {
    let mut several = Vec::new();
    for name in actual_edges().into_keys() {
        let dir = workspace().join("crates").join(&name).join("tests");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let top: Vec<String> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "rs"))
            .map(|p| p.display().to_string())
            .collect();
        if top.len() > 1 {
            several.push(format!("{name}: {top:?} (move them under tests/it/ as modules)"));
        }
    }
    assert!(several.is_empty(), "{}", several.join("\n"));
}

/// A crate without unit tests skips linking a unit-test binary (`test = false`); this
/// keeps that from silently dropping a unit test someone adds later.
#[test]
fn no_unit_test_hides_behind_test_false() {
    let meta = metadata();
    let mut hidden = Vec::new();
    let mut skipped = 0;
    for package in meta["packages"].as_array().expect("packages") {
        for target in package["targets"].as_array().expect("targets") {
            let kinds = target["kind"].as_array().expect("kind");
            if target["test"] == false && kinds.iter().any(|k| k == "lib" || k == "bin") {
                skipped += 1;
                let src = Path::new(target["src_path"].as_str().expect("src_path"));
                let mut files = Vec::new();
                rust_files(src.parent().expect("src dir"), &mut files);
                for file in files {
                    let text = std::fs::read_to_string(&file).expect("source");
                    if ["#[test]", "#[tokio::test", "cfg(test)", "proptest!"].iter().any(|m| text.contains(m))
                    {
                        hidden.push(file.display().to_string());
                    }
                }
            }
        }
    }
    assert!(skipped > 0, "no target has test = false: this check checks nothing");
    assert!(hidden.is_empty(), "unit tests in a target with test = false never run: {hidden:?}");
}
