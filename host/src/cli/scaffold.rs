//! `aura-host plugin new`: a plugin crate that builds and passes its own test on the
//! first try. The test builds the component and runs it in the real host runtime
//! (`aura_sdk::testing`), so what passes there is what `aura-host run` will see; its
//! host reads are answered by the recordings it ships (`replays/`), so it runs offline.

use std::path::{Path, PathBuf};

use aura_runtime::PluginKind;

#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error("invalid plugin name {0:?}: use 1-64 of a-z, 0-9, '-' and '_', starting with a letter")]
    Name(String),
    #[error("{0} already exists; choose another name or directory")]
    Exists(PathBuf),
    #[error("cannot find aura-sdk at {0}; pass --sdk <path to the sdk directory>")]
    Sdk(PathBuf),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Where a scaffolded crate gets `aura-sdk` from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sdk {
    /// An SDK directory (`--sdk`, or the checkout this host was built from).
    Path(PathBuf),
    /// The published crate, at this host's version: no source tree needed.
    Version(&'static str),
}

impl Sdk {
    /// `--sdk` when given; else the SDK beside the sources this host was built from,
    /// when they are still there; else the published crate of this host's version (an
    /// installed binary).
    pub fn choose(given: Option<PathBuf>) -> Self {
        match given {
            Some(p) => Self::Path(p),
            None => {
                let beside = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk");
                match beside.join("Cargo.toml").is_file() {
                    true => Self::Path(beside),
                    false => Self::Version(env!("CARGO_PKG_VERSION")),
                }
            }
        }
    }

    /// The dependency's table body, `features` added: `path = "..."` or `version = "..."`.
    fn dependency(&self, features: &str) -> String {
        let source = match self {
            Self::Path(p) => format!("path = \"{}\"", p.display().to_string().replace('\\', "/")),
            Self::Version(v) => format!("version = \"={v}\""),
        };
        format!("{{ {source}{features} }}")
    }
}

/// A plugin's name: 1-64 of a-z, 0-9, '-' and '_', starting with a letter.
pub fn check_name(name: &str) -> Result<(), ScaffoldError> {
    let valid = (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(ScaffoldError::Name(name.into()))
    }
}

/// Writes `<parent>/<name>/` and returns its path.
pub fn create(
    parent: &Path,
    name: &str,
    kind: PluginKind,
    sdk: &Sdk,
) -> Result<PathBuf, ScaffoldError> {
    check_name(name)?;
    let sdk = match sdk {
        Sdk::Path(p) => Sdk::Path(
            std::fs::canonicalize(p)
                .ok()
                .filter(|p| p.join("Cargo.toml").exists())
                .ok_or_else(|| ScaffoldError::Sdk(p.to_path_buf()))?,
        ),
        v => v.clone(),
    };
    let dir = parent.join(name);
    if dir.exists() {
        return Err(ScaffoldError::Exists(dir));
    }
    let crate_name = name.replace('-', "_");
    // `cargo test` drives this very binary unless AURA_HOST_BIN says otherwise.
    let host = std::env::current_exe()
        .map(|p| p.display().to_string().replace('\\', "/"))
        .unwrap_or_else(|_| "aura-host".into());
    let files = [
        ("Cargo.toml", cargo_toml(name, &sdk)),
        (".cargo/config.toml", cargo_config(&host)),
        ("src/lib.rs", lib_rs(kind)),
        ("tests/plugin.rs", test_rs(kind, &crate_name)),
        (".gitignore", "/target\n".to_string()),
    ]
    .into_iter()
    .chain(super::scaffold_replays::files(name, kind));
    for (file, text) in files {
        let path = dir.join(file);
        let write = || -> std::io::Result<()> {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, text)
        };
        write().map_err(|source| ScaffoldError::Write {
            path: path.clone(),
            source,
        })?;
    }
    Ok(dir)
}

fn cargo_toml(name: &str, sdk: &Sdk) -> String {
    let (plain, testing) = (
        sdk.dependency(""),
        sdk.dependency(", features = [\"testing\"]"),
    );
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

# A wasm32-wasip2 cdylib is a WebAssembly component:
#   cargo build --release --target wasm32-wasip2
[lib]
crate-type = ["cdylib"]

[dependencies]
aura-sdk = {plain}
serde = {{ version = "1", features = ["derive"] }}

# `cargo test` builds the component and runs it in the real aura-host runtime, through the
# `aura-host` binary (see .cargo/config.toml): the host is not compiled into the tests.
[target.'cfg(not(target_arch = "wasm32"))'.dev-dependencies]
aura-sdk = {testing}

# A crate of its own; delete this table to make it a member of an enclosing workspace.
[workspace]
"#
    )
}

fn cargo_config(host: &str) -> String {
    format!(
        r#"# The aura-host binary `cargo test` runs the plugin in (aura-sdk's `testing`); an
# AURA_HOST_BIN set in the environment wins.
[env]
AURA_HOST_BIN = {{ value = "{host}", force = false }}
"#
    )
}

fn lib_rs(kind: PluginKind) -> String {
    match kind {
        PluginKind::Validator => r#"//! A validator: looks at a run through the host's interfaces and returns checks with
//! what was expected and what was found.

use aura_sdk::contract::names::decision_key;
use aura_sdk::validator::Guest;
use aura_sdk::{Check, PluginError, RunContext, ValidationResult, cache, export_validator};

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Config {
    /// How many requests the run must have.
    min_requests: usize,
}

struct Plugin;

impl Guest for Plugin {
    fn validate(ctx: RunContext) -> Result<ValidationResult, PluginError> {
        let config: Config = ctx.config()?;
        let mut checks = vec![Check::expect(
            "enough requests",
            ctx.request_ids.len() >= config.min_requests,
            &format!("at least {}", config.min_requests),
            ctx.request_ids.len(),
            "the run has fewer requests than configured",
        )];
        // Each request's decision, as the reference target caches it.
        for id in &ctx.request_ids {
            let name = format!("decision cached for {id}");
            checks.push(match cache::get(&decision_key(&ctx.run_id, id)) {
                Ok(found) => Check::expect(
                    &name,
                    found.is_some(),
                    "a cached decision",
                    found.as_deref().unwrap_or("nothing"),
                    "the request's decision is not in the cache",
                ),
                Err(e) => Check::host_failure(&name, "a cached decision", &e),
            });
        }
        Ok(ValidationResult { checks })
    }
}

export_validator!(Plugin);
"#
        .into(),
        PluginKind::RecoveryStrategy => r#"//! A recovery strategy: decides what the orchestrator does about a failure.

use aura_sdk::recovery::Guest;
use aura_sdk::{Failure, PluginError, RecoveryAction, RunContext, export_recovery_strategy};

#[derive(serde::Deserialize)]
#[serde(default)]
struct Config {
    max_attempts: u32,
    delay_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self { max_attempts: 3, delay_ms: 250 }
    }
}

struct Plugin;

impl Guest for Plugin {
    fn decide(ctx: RunContext, failure: Failure) -> Result<RecoveryAction, PluginError> {
        let config: Config = ctx.config()?;
        Ok(if failure.attempt < config.max_attempts {
            RecoveryAction::Retry(config.delay_ms)
        } else {
            RecoveryAction::Abort(format!("{} failed {} times: {}", failure.operation, failure.attempt, failure.error))
        })
    }
}

export_recovery_strategy!(Plugin);
"#
        .into(),
        PluginKind::ScenarioGenerator => r#"//! A scenario generator: produces GPU-allocation requests, the same ones for the same seed.

use aura_sdk::generator::Guest;
use aura_sdk::{GeneratedScenario, GpuRequest, PluginError, RunContext, export_scenario_generator};

struct Plugin;

impl Guest for Plugin {
    fn generate(ctx: RunContext, seed: u64) -> Result<GeneratedScenario, PluginError> {
        let requests = (0..4u32)
            .map(|i| GpuRequest {
                request_id: format!("{}-{i}", ctx.scenario),
                team: "platform".into(),
                gpu_count: 1 + ((seed as u32).wrapping_add(i) % 4),
                gpu_model: None,
                memory_gb: 40,
                priority: 5,
                duration_minutes: 60,
            })
            .collect();
        Ok(GeneratedScenario {
            id: ctx.scenario.clone(),
            name: "generated".into(),
            description: format!("four requests from seed {seed}"),
            requests,
        })
    }
}

export_scenario_generator!(Plugin);
"#
        .into(),
    }
}

fn test_rs(kind: PluginKind, crate_name: &str) -> String {
    let body = match kind {
        PluginKind::Validator => {
            r#"    // The recordings answer its cache reads: no service needs to run.
    let decided = testing::replay(&wasm, "replays/decided.jsonl");
    assert!(decided.passed && decided.same, "{decided:#?}");
    let undecided = testing::replay(&wasm, "replays/undecided.jsonl");
    assert!(!undecided.passed && undecided.same, "a missing decision must fail: {undecided:#?}");
    // No host call: the real sandbox, no recording needed.
    let run = testing::validate(&wasm, "min_requests = 1", &[]);
    assert!(!run.passed(), "no request must not satisfy min_requests = 1: {run:#?}");"#
        }
        PluginKind::RecoveryStrategy => {
            r#"    let retry = testing::decide(&wasm, "max_attempts = 3", testing::failure("redis", 1));
    assert_eq!(retry.outcome, Ok(testing::RecoveryAction::Retry(250)), "{retry:#?}");
    let give_up = testing::decide(&wasm, "max_attempts = 3", testing::failure("redis", 3));
    assert!(matches!(give_up.outcome, Ok(testing::RecoveryAction::Abort(_))), "{give_up:#?}");
    let recorded = testing::replay(&wasm, "replays/retry.jsonl");
    assert!(recorded.passed && recorded.same, "{recorded:#?}");"#
        }
        PluginKind::ScenarioGenerator => {
            r#"    let a = testing::generate(&wasm, "", 7);
    let b = testing::generate(&wasm, "", 7);
    let scenario = a.outcome.clone().expect("generates");
    assert_eq!(scenario.requests.len(), 4);
    assert_eq!(a.outcome, b.outcome, "the same seed must give the same scenario");
    let recorded = testing::replay(&wasm, "replays/seed-7.jsonl");
    assert!(recorded.passed && recorded.same, "{recorded:#?}");"#
        }
    };
    format!(
        r#"//! Builds this plugin as a component and runs it in the real aura-host runtime.

use aura_sdk::testing;

#[test]
fn {crate_name}_runs_in_the_host() {{
    let wasm = testing::build(env!("CARGO_MANIFEST_DIR"));
{body}
}}
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_installed_host_scaffolds_against_the_published_sdk_of_its_version() {
        let toml = cargo_toml("probe", &Sdk::Version("0.1.0"));
        assert!(
            toml.contains("aura-sdk = { version = \"=0.1.0\" }"),
            "{toml}"
        );
        assert!(
            toml.contains("aura-sdk = { version = \"=0.1.0\", features = [\"testing\"] }"),
            "{toml}"
        );
        assert!(!toml.contains("path ="), "{toml}");
        let given = cargo_toml("probe", &Sdk::Path(PathBuf::from("/opt/sdk")));
        assert!(
            given.contains("aura-sdk = { path = \"/opt/sdk\" }"),
            "{given}"
        );
        // Built from this checkout, whose SDK is still here: the path.
        assert!(matches!(Sdk::choose(None), Sdk::Path(_)));
    }
}
