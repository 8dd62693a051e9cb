//! The project kit `aura-host init` writes: a starter `aura.toml`, the shipped suites
//! (`scenarios/`), the shipped plugins (`plugins/<name>.wasm`) and a plugin set pinning
//! them by digest (`plugins.toml`), and on request CI files that run suites as a
//! matrix. Scenarios and plugins are embedded in the binary when it is built
//! (`host/build.rs`), so an installed `aura-host` needs no source tree.

use std::path::{Path, PathBuf};

use aura_runtime::Grants;
use serde::Serialize;

/// A plugin the binary ships: its name, its kind in a plugin set's words, and its
/// component (`None`: not built when this binary was).
pub struct Shipped {
    pub name: &'static str,
    pub kind: &'static str,
    pub wasm: Option<&'static [u8]>,
}

mod embedded {
    use super::Shipped;
    include!(concat!(env!("OUT_DIR"), "/shipped.rs"));
}

pub use embedded::{PLUGINS, SCENARIOS};

/// Where the kit puts what it writes, relative to the project.
pub const CONFIG: &str = "aura.toml";
pub const PLUGIN_SET: &str = "plugins.toml";
pub const SCENARIOS_DIR: &str = "scenarios";
pub const PLUGINS_DIR: &str = "plugins";

/// A CI system whose file the kit writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ci {
    Github,
    Gitlab,
}

const GITHUB: &str = include_str!("github-actions.yml");
const GITLAB: &str = include_str!("gitlab-ci.yml");
/// The matrix of suites in both templates, replaced by the suites asked for.
const DEFAULT_MATRIX: &str = "[smoke, integration]";

impl Ci {
    /// Where its file goes in the project.
    pub fn path(self) -> &'static str {
        match self {
            Ci::Github => ".github/workflows/aura-host.yml",
            Ci::Gitlab => ".gitlab-ci.yml",
        }
    }

    fn template(self) -> &'static str {
        match self {
            Ci::Github => GITHUB,
            Ci::Gitlab => GITLAB,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{0} exists; `aura-host init --force` replaces it")]
    Exists(PathBuf),
    #[error(
        "this aura-host was built without its plugin(s) {0}: build them with `bash host/scripts/build-plugins.sh` before building aura-host (docs/operations.md)"
    )]
    Unbuilt(String),
    #[error("cannot write {path}: {reason}")]
    Write { path: PathBuf, reason: String },
}

/// What to write into the project.
pub struct Request<'a> {
    pub ci: &'a [Ci],
    /// The suites the CI files run; empty: smoke and integration.
    pub suites: &'a [String],
}

/// Every file of the kit, by its path in the project: nothing is written yet.
pub fn files(req: &Request<'_>) -> Result<Vec<(PathBuf, Vec<u8>)>, InitError> {
    let unbuilt: Vec<&str> = PLUGINS
        .iter()
        .filter(|p| p.wasm.is_none())
        .map(|p| p.name)
        .collect();
    if !unbuilt.is_empty() {
        return Err(InitError::Unbuilt(unbuilt.join(", ")));
    }
    let mut out: Vec<(PathBuf, Vec<u8>)> = vec![
        (CONFIG.into(), STARTER_CONFIG.as_bytes().to_vec()),
        (PLUGIN_SET.into(), plugin_set()?.into_bytes()),
    ];
    out.extend(
        SCENARIOS
            .iter()
            .map(|(rel, text)| (Path::new(SCENARIOS_DIR).join(rel), text.as_bytes().to_vec())),
    );
    out.extend(PLUGINS.iter().filter_map(|p| {
        let wasm = p.wasm?;
        Some((
            Path::new(PLUGINS_DIR).join(format!("{}.wasm", p.name)),
            wasm.to_vec(),
        ))
    }));
    for ci in req.ci {
        out.push((
            ci.path().into(),
            matrix(ci.template(), req.suites).into_bytes(),
        ));
    }
    Ok(out)
}

/// Writes `files` under `dir`; a file that exists is refused (unless `force`) before
/// anything is written. The paths written.
pub fn write(
    dir: &Path,
    files: &[(PathBuf, Vec<u8>)],
    force: bool,
) -> Result<Vec<PathBuf>, InitError> {
    if !force && let Some((rel, _)) = files.iter().find(|(rel, _)| dir.join(rel).exists()) {
        return Err(InitError::Exists(dir.join(rel)));
    }
    let mut written = Vec::new();
    for (rel, bytes) in files {
        let path = dir.join(rel);
        let failed = |e: std::io::Error| InitError::Write {
            path: path.clone(),
            reason: e.to_string(),
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(failed)?;
        }
        std::fs::write(&path, bytes).map_err(failed)?;
        written.push(path);
    }
    Ok(written)
}

const STARTER_CONFIG: &str = r#"# aura-host configuration, written by `aura-host init`. `aura-host config` prints the
# whole configuration with every default; docs/operations.md and the README name each
# key. Durations are humantime strings ("5s", "500ms").

# Environment state (the local servers' pids, logs and data, their tools) and the run
# journals, relative to this file.
state_dir = ".aura"

[run]
# The shipped suites (`aura-host run --suite smoke|integration|e2e|chaos|all|load|soak|
# prod-smoke|dr`, their test data in scenarios/fixtures/) and the shipped plugins,
# pinned by digest in plugins.toml
# (`aura-host run --plugins plugins.toml`).
scenarios_dir = "scenarios"
plugins_dir = "plugins"

# The local profile's servers listen on loopback (`aura-host env up`); point these at a
# deployment's instead to run against it (and `aura-host run --target URL`).
# [services.redis]
# url = "redis://127.0.0.1:16379"
"#;

#[derive(Serialize)]
struct SetFile<'a> {
    plugin: Vec<SetEntry<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct SetEntry<'a> {
    name: &'a str,
    path: String,
    sha256: String,
    kind: &'a str,
    grants: Grants,
}

/// The shipped plugins as a plugin set: each pinned by its digest, granted reading the
/// run's own data and nothing else.
fn plugin_set() -> Result<String, InitError> {
    let set = SetFile {
        plugin: PLUGINS
            .iter()
            .filter_map(|p| {
                Some(SetEntry {
                    name: p.name,
                    path: format!("{PLUGINS_DIR}/{}.wasm", p.name),
                    sha256: aura_runtime::digest(p.wasm?),
                    kind: p.kind,
                    grants: Grants::run_read_only(),
                })
            })
            .collect(),
    };
    let body = toml::to_string_pretty(&set).map_err(|e| InitError::Write {
        path: PLUGIN_SET.into(),
        reason: e.to_string(),
    })?;
    Ok(format!(
        "# The shipped plugins, pinned by sha256 (written by `aura-host init`). After\n\
         # replacing a component, `aura-host plugin lock plugins.toml` pins it again;\n\
         # `aura-host plugin verify plugins.toml` checks the set without running it.\n\n{body}"
    ))
}

/// `template` with its matrix of suites set to `suites` (unchanged when none).
fn matrix(template: &str, suites: &[String]) -> String {
    match suites {
        [] => template.to_string(),
        _ => template.replacen(DEFAULT_MATRIX, &format!("[{}]", suites.join(", ")), 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_templates_carry_the_matrix_the_suites_replace() {
        for t in [GITHUB, GITLAB] {
            assert_eq!(t.matches(DEFAULT_MATRIX).count(), 1);
            let m = matrix(t, &["e2e".into(), "chaos".into()]);
            assert!(m.contains("[e2e, chaos]") && !m.contains(DEFAULT_MATRIX));
        }
    }

    #[test]
    fn the_kit_ships_every_suite_and_plugin() {
        let suites: std::collections::BTreeSet<&str> = SCENARIOS
            .iter()
            .filter_map(|(rel, _)| rel.split_once('/').map(|(s, _)| s))
            .collect();
        for s in [
            "smoke",
            "integration",
            "e2e",
            "chaos",
            "load",
            "soak",
            "prod-smoke",
            "dr",
            "fixtures",
        ] {
            assert!(suites.contains(s), "{s} in {suites:?}");
        }
        let names: Vec<&str> = PLUGINS.iter().map(|p| p.name).collect();
        assert!(names.contains(&"decision_persistence"), "{names:?}");
        let kind = |n: &str| PLUGINS.iter().find(|p| p.name == n).map(|p| p.kind);
        assert_eq!(kind("exponential_backoff"), Some("recovery-strategy"));
        assert_eq!(kind("burst_generator"), Some("scenario-generator"));
        assert_eq!(kind("flow_timing"), Some("validator"));
    }

    #[test]
    fn a_file_that_exists_is_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("b"), "mine").expect("write");
        let files = vec![
            (PathBuf::from("a"), b"a".to_vec()),
            (PathBuf::from("b"), b"b".to_vec()),
        ];
        assert!(matches!(
            write(dir.path(), &files, false),
            Err(InitError::Exists(p)) if p.ends_with("b")
        ));
        assert!(!dir.path().join("a").exists(), "nothing written");
        write(dir.path(), &files, true).expect("forced");
        assert_eq!(std::fs::read(dir.path().join("b")).expect("b"), b"b");
    }
}
