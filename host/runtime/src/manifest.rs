//! Plugin sets: the TOML file CI pins its plugins with. Each entry names a component by
//! path (relative to the manifest) and sha256, its kind, grants, limits and config:
//!
//! ```toml
//! [[plugin]]
//! name = "decision_persistence"
//! path = "decision_persistence.wasm"
//! sha256 = "3f1c…"
//! kind = "validator"
//! grants = { graph = "read", cache = { access = "read", key-prefixes = ["aura:{run}:ctx:"] } }
//! limits = { memory-bytes = 67108864, timeout = "5s" }
//! config = { deadline_ms = 2000 }
//! ```

use std::collections::BTreeSet;
use std::path::Path;

use serde::Deserialize;

use super::grants::Grants;
use super::limits::Limits;
use super::load::{PluginKind, PluginSpec};
use aura_services::config::{ConfigError, parse_toml};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestFile {
    #[serde(rename = "plugin", default)]
    plugins: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Entry {
    name: String,
    path: std::path::PathBuf,
    /// Written by `aura-host plugin lock`; required to load the set.
    sha256: Option<String>,
    kind: PluginKind,
    #[serde(default)]
    grants: Grants,
    #[serde(default)]
    limits: Limits,
    #[serde(default)]
    config: toml::Table,
}

/// Reads a plugin set; paths are resolved against the manifest's directory.
pub fn load(path: &Path) -> Result<Vec<PluginSpec>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let file: ManifestFile = parse_toml(path, &text)?;
    let base = path.parent().unwrap_or(Path::new("."));
    let invalid = |i: usize, field: &str, reason: String| ConfigError::Invalid {
        field: format!("{}: plugin[{i}].{field}", path.display()),
        reason,
    };
    if file.plugins.is_empty() {
        return Err(invalid(0, "(document)", "no [[plugin]] entries".into()));
    }
    let mut names = BTreeSet::new();
    file.plugins
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            if !names.insert(e.name.clone()) {
                return Err(invalid(i, "name", format!("{:?} appears twice", e.name)));
            }
            let Some(sha256) = e.sha256 else {
                return Err(invalid(
                    i,
                    "sha256",
                    format!(
                        "missing; pin it with `aura-host plugin lock {}`",
                        path.display()
                    ),
                ));
            };
            if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(invalid(i, "sha256", "must be 64 hex digits".into()));
            }
            e.limits
                .validate()
                .map_err(|reason| invalid(i, "limits", reason))?;
            let config = toml::to_string(&e.config)
                .map_err(|err| invalid(i, "config", format!("cannot be written as TOML: {err}")))?;
            Ok(PluginSpec {
                name: e.name,
                path: base.join(e.path),
                kind: Some(e.kind),
                sha256: Some(sha256.to_ascii_lowercase()),
                grants: e.grants,
                limits: e.limits,
                config,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<PluginSpec>, ConfigError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("plugins.toml");
        std::fs::write(&path, text).expect("write");
        load(&path)
    }

    const DIGEST: &str = "0000000000000000000000000000000000000000000000000000000000000000";

    #[test]
    fn an_entry_becomes_a_spec() {
        let specs = parse(&format!(
            "[[plugin]]\nname = \"a\"\npath = \"a.wasm\"\nsha256 = \"{DIGEST}\"\nkind = \"validator\"\n\
             grants = {{ graph = \"read\", cache = {{ access = \"read\", key-prefixes = [\"aura:{{run}}:\"] }} }}\n\
             config = {{ deadline_ms = 5 }}\n"
        ))
        .expect("parses");
        assert_eq!(specs.len(), 1);
        assert_eq!(specs[0].kind, Some(PluginKind::Validator));
        assert!(specs[0].path.ends_with("a.wasm"));
        assert_eq!(specs[0].config.trim(), "deadline_ms = 5");
        assert_eq!(specs[0].grants.cache.key_prefixes, vec!["aura:{run}:"]);
    }

    #[test]
    fn a_misspelt_grant_names_line_and_field() {
        let e = parse(&format!(
            "[[plugin]]\nname = \"a\"\npath = \"a.wasm\"\nsha256 = \"{DIGEST}\"\nkind = \"validator\"\n\
             [plugin.grants]\ncache = {{ acess = \"read\" }}\n"
        ))
        .expect_err("rejected");
        let ConfigError::Malformed { line, field, .. } = &e else {
            panic!("{e}")
        };
        assert_eq!(*line, 7, "{e}");
        assert!(field.contains("grants"), "{e}");
    }

    #[test]
    fn a_missing_digest_says_how_to_pin_it() {
        let e = parse("[[plugin]]\nname = \"a\"\npath = \"a.wasm\"\nkind = \"validator\"\n")
            .expect_err("rejected");
        assert!(e.to_string().contains("aura-host plugin lock"), "{e}");
    }

    #[test]
    fn a_short_digest_is_rejected() {
        let e = parse(
            "[[plugin]]\nname = \"a\"\npath = \"a.wasm\"\nsha256 = \"abc\"\nkind = \"validator\"\n",
        )
        .expect_err("rejected");
        assert!(e.to_string().contains("sha256"), "{e}");
    }
}
