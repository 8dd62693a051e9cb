//! Suites are the folders of `scenarios/`: `smoke`, `integration`, `e2e`, `chaos`, and
//! `all` for those four; `load` (minutes of load), `soak` (its long variant),
//! `prod-smoke` (the probe of a deployed target) and `dr` (the recovery drill, which
//! destroys the local environment and restores it) run only when named. A suite's
//! scenarios are its `*.toml` files, in name order.

use std::path::{Path, PathBuf};

use super::scenario::{Scenario, ScenarioError};

/// The suites `all` runs.
pub const SUITES: [&str; 4] = ["smoke", "integration", "e2e", "chaos"];

/// Suites that take minutes or hours: run when named, never by `all`.
pub const LONG_SUITES: [&str; 2] = ["load", "soak"];

/// The probe of a deployed target (`run --target URL --suite prod-smoke`, the monitor's
/// and `verify-rollback`'s): run when named, never by `all`.
pub const PROD_SMOKE: &str = "prod-smoke";

/// The disaster-recovery drill: snapshot, destroy, restore, validate. Run when named.
pub const DR: &str = "dr";

/// Every suite a run can name, `all` included.
pub fn names() -> Vec<&'static str> {
    let mut all = SUITES.to_vec();
    all.push("all");
    all.extend(LONG_SUITES);
    all.extend([PROD_SMOKE, DR]);
    all
}

#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    #[error("unknown suite '{0}' (expected {known})", known = names().join(", "))]
    Unknown(String),
    #[error("{path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
}

/// The folders `suite` names; an unknown suite is refused.
fn folders(suite: &str) -> Result<Vec<&str>, SuiteError> {
    match suite {
        "all" => Ok(SUITES.to_vec()),
        s if names().contains(&s) => Ok(vec![s]),
        other => Err(SuiteError::Unknown(other.to_string())),
    }
}

/// Whether `suite` names a suite.
pub fn check(suite: &str) -> Result<(), SuiteError> {
    folders(suite).map(|_| ())
}

/// The scenarios of `suite` under `root` (the `scenarios/` folder). A suite folder that
/// does not exist is an empty suite.
pub fn load(root: &Path, suite: &str) -> Result<Vec<(PathBuf, Scenario)>, SuiteError> {
    let suites = folders(suite)?;
    let mut out = Vec::new();
    for s in suites {
        let dir = root.join(s);
        if !dir.exists() {
            continue;
        }
        let read = |e: std::io::Error| SuiteError::Read {
            path: dir.clone(),
            reason: e.to_string(),
        };
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(read)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        files.sort();
        for path in files {
            let scenario = Scenario::load(&path)?;
            out.push((path, scenario));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
    }

    #[test]
    fn the_smoke_suite_has_the_shipped_scenario() {
        let smoke = load(&root(), "smoke").expect("loads");
        assert!(smoke.iter().any(|(_, s)| s.id == "smoke-single-approval"));
        assert!(load(&root(), "all").expect("all").len() >= smoke.len());
    }

    #[test]
    fn an_unknown_suite_is_refused() {
        let e = load(&root(), "nightly").expect_err("unknown").to_string();
        assert!(e.contains("unknown suite 'nightly'"), "{e}");
    }
}
