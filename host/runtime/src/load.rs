//! From a file to a plugin ready to call: read, recognise (Wasm? component? which world?
//! which package version?), compile (or load from the cache), link, pre-instantiate.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, InstancePre, Linker};

use super::bindings::{PACKAGE, SERVED_VERSIONS, generator, recovery, v0_1, validator};
use super::error::LoadError;
use super::grants::Grants;
use super::limits::Limits;
use super::state::PluginState;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PluginKind {
    Validator,
    RecoveryStrategy,
    ScenarioGenerator,
}

impl PluginKind {
    pub fn world(self) -> &'static str {
        match self {
            Self::Validator => "validator",
            Self::RecoveryStrategy => "recovery-strategy",
            Self::ScenarioGenerator => "scenario-generator",
        }
    }

    fn export(self) -> &'static str {
        match self {
            Self::Validator => "validate",
            Self::RecoveryStrategy => "decide",
            Self::ScenarioGenerator => "generate",
        }
    }

    pub const ALL: [Self; 3] = [
        Self::Validator,
        Self::RecoveryStrategy,
        Self::ScenarioGenerator,
    ];
}

impl std::str::FromStr for PluginKind {
    type Err = String;
    /// The world's name: `validator`, `recovery-strategy`, `scenario-generator`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|k| k.world() == s).ok_or_else(|| {
            format!("unknown plugin kind '{s}' (expected validator, recovery-strategy or scenario-generator)")
        })
    }
}

impl std::fmt::Display for PluginKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.world())
    }
}

/// Everything needed to load one plugin: from `--plugin <wasm>` or a plugin-set entry.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginSpec {
    pub name: String,
    pub path: PathBuf,
    /// The kind the manifest declares; `None` accepts whatever the component is.
    pub kind: Option<PluginKind>,
    /// The pinned digest (hex sha256); `None` when not pinned.
    pub sha256: Option<String>,
    pub grants: Grants,
    pub limits: Limits,
    /// The plugin's `[config]` table as TOML text.
    pub config: String,
}

impl PluginSpec {
    /// `--plugin <wasm>`: named after the file, read-only access to the run's data,
    /// default limits, no config.
    pub fn from_path(path: &Path) -> Self {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        Self {
            name,
            path: path.to_path_buf(),
            kind: None,
            sha256: None,
            grants: Grants::run_read_only(),
            limits: Limits::default(),
            config: String::new(),
        }
    }
}

/// A typed pre-instantiated component of one world.
#[derive(Clone)]
pub(super) enum TypedPre {
    Validator(validator::ValidatorPre<PluginState>),
    Recovery(recovery::RecoveryStrategyPre<PluginState>),
    Generator(generator::ScenarioGeneratorPre<PluginState>),
    /// Built against 0.1.x: its exports take the 0.1 types (`since_v0_1`).
    ValidatorV0_1(v0_1::validator::ValidatorPre<PluginState>),
    RecoveryV0_1(v0_1::recovery::RecoveryStrategyPre<PluginState>),
    GeneratorV0_1(v0_1::generator::ScenarioGeneratorPre<PluginState>),
}

/// A loaded plugin: compiled, linked and pre-instantiated; each call gets a fresh store.
#[derive(Clone)]
pub struct Plugin {
    pub spec: PluginSpec,
    pub kind: PluginKind,
    pub digest: String,
    /// The `aura:host` version the component was built against.
    pub contract: String,
    pub(super) pre: TypedPre,
}

impl Plugin {
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// What a recording of this plugin's calls is checked against.
    pub fn identity(&self) -> crate::tape::Identity {
        crate::tape::Identity {
            plugin: self.spec.name.clone(),
            kind: self.kind,
            contract: self.contract.clone(),
            digest: self.digest.clone(),
        }
    }
}

/// Facts about a component file, without linking it.
#[derive(Debug, Clone, Serialize)]
pub struct ComponentFacts {
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
    pub kind: Option<PluginKind>,
    /// The aura:host version the component was built against, if it imports or exports any.
    pub package_version: Option<String>,
    pub imports: Vec<String>,
    pub exports: Vec<String>,
}

/// The SHA-256 of `bytes`, in hex.
pub fn digest(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    Sha256::digest(bytes)
        .iter()
        .fold(String::with_capacity(64), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        })
}

/// The largest component file the host reads (the shipped plugins are under 1 MiB).
const MAX_COMPONENT_BYTES: u64 = 256 << 20;

pub(super) fn read(path: &Path) -> Result<Vec<u8>, LoadError> {
    let read_error = |source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    };
    // Read at most one byte past the cap: a huge file is refused, not loaded whole.
    let file = std::fs::File::open(path).map_err(read_error)?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(file, MAX_COMPONENT_BYTES + 1),
        &mut bytes,
    )
    .map_err(read_error)?;
    if bytes.len() as u64 > MAX_COMPONENT_BYTES {
        return Err(LoadError::Invalid {
            path: path.to_path_buf(),
            reason: format!("larger than {} MiB", MAX_COMPONENT_BYTES >> 20),
        });
    }
    if !bytes.starts_with(b"\0asm") {
        return Err(LoadError::NotWasm {
            path: path.to_path_buf(),
        });
    }
    // The preamble's version field: 1 for a core module, 0x0d with layer 1 for a component.
    if bytes.get(4..8) == Some(&[1, 0, 0, 0]) {
        return Err(LoadError::CoreModule {
            path: path.to_path_buf(),
        });
    }
    Ok(bytes)
}

/// Names the component imports and exports, its kind and package version; refuses a
/// version this host does not offer.
pub(super) fn facts(
    engine: &Engine,
    component: &Component,
    path: &Path,
    bytes: &[u8],
) -> Result<ComponentFacts, LoadError> {
    let ty = component.component_type();
    let imports: Vec<String> = ty.imports(engine).map(|(n, _)| n.to_string()).collect();
    let exports: Vec<(String, bool)> = ty
        .exports(engine)
        .map(|(n, item)| {
            (
                n.to_string(),
                matches!(item.ty, ComponentItem::ComponentFunc(_)),
            )
        })
        .collect();
    // Every aura:host name carries its version; each must be one this host offers (a
    // component may mix versions, and any one of them would fail to link).
    let versions: Vec<&str> = imports
        .iter()
        .chain(exports.iter().map(|(n, _)| n))
        .filter_map(|n| n.strip_prefix(PACKAGE)?.strip_prefix('/')?.split_once('@'))
        .map(|(_, v)| v)
        .collect();
    if let Some(wanted) = versions.iter().find(|v| served(v).is_none()) {
        return Err(LoadError::Version {
            path: path.to_path_buf(),
            package: PACKAGE,
            wanted: crate::text::escape(wanted, 64),
            offered: SERVED_VERSIONS.join(", "),
        });
    }
    let package_version = versions.first().map(|v| v.to_string());
    let kind = PluginKind::ALL
        .into_iter()
        .find(|k| exports.iter().any(|(n, func)| *func && n == k.export()));
    Ok(ComponentFacts {
        path: path.to_path_buf(),
        size: bytes.len() as u64,
        sha256: digest(bytes),
        kind,
        package_version,
        imports,
        exports: exports.into_iter().map(|(n, _)| n).collect(),
    })
}

/// The served version that links a component built against `wanted`.
pub fn served(wanted: &str) -> Option<&'static str> {
    SERVED_VERSIONS
        .into_iter()
        .find(|offered| compatible(wanted, offered))
}

/// Semver compatibility as the component model links it: the same major version, or for
/// 0.x the same minor.
pub(crate) fn compatible(wanted: &str, offered: &str) -> bool {
    let parts = |v: &str| -> Vec<u64> { v.split('.').filter_map(|p| p.parse().ok()).collect() };
    let (w, o) = (parts(wanted), parts(offered));
    match (w.as_slice(), o.as_slice()) {
        ([0, wm, ..], [0, om, ..]) => wm == om,
        ([wmaj, ..], [omaj, ..]) => wmaj == omaj,
        _ => false,
    }
}

/// Links a recognised component and builds the typed pre-instance of its world.
pub(super) fn prepare(
    linker: &Linker<PluginState>,
    component: &Component,
    facts: &ComponentFacts,
    spec: &PluginSpec,
) -> Result<(PluginKind, TypedPre), LoadError> {
    let path = || spec.path.clone();
    let Some(kind) = facts.kind else {
        return Err(LoadError::WrongWorld {
            path: path(),
            exports: if facts.exports.is_empty() {
                "nothing".into()
            } else {
                facts.exports.join(", ")
            },
        });
    };
    if let Some(expected) = spec.kind
        && expected != kind
    {
        return Err(LoadError::KindMismatch {
            path: path(),
            expected: expected.to_string(),
            found: kind.to_string(),
        });
    }
    let link = |e: wasmtime::Error| LoadError::Link {
        path: path(),
        reason: match unprovided(&facts.imports) {
            missing if missing.is_empty() => format!("{e:#}"),
            missing => format!(
                "it imports what this host does not provide: {}. A plugin gets aura:host and \
                 WASI's {} interfaces (empty or denied: no files, no network); build it without \
                 the others (componentize-js: `--disable http fetch-event`)",
                missing.join(", "),
                PROVIDED_WASI.join(", ")
            ),
        },
    };
    let pre: InstancePre<PluginState> = linker.instantiate_pre(component).map_err(link)?;
    let typed = match facts.package_version.as_deref() {
        Some(version) => typed(kind, pre, super::since_v0_1::serves(version)),
        // Nothing names a version (a hand-written component that imports nothing): its
        // export's signature says which, the latest tried first.
        None => typed(kind, pre.clone(), false).or_else(|e| typed(kind, pre, true).map_err(|_| e)),
    }
    .map_err(link)?;
    Ok((kind, typed))
}

/// The typed pre-instance of `kind`'s world, at 0.1 or at the latest version.
fn typed(
    kind: PluginKind,
    pre: InstancePre<PluginState>,
    v0_1: bool,
) -> wasmtime::Result<TypedPre> {
    Ok(match (kind, v0_1) {
        (PluginKind::Validator, true) => {
            TypedPre::ValidatorV0_1(v0_1::validator::ValidatorPre::new(pre)?)
        }
        (PluginKind::RecoveryStrategy, true) => {
            TypedPre::RecoveryV0_1(v0_1::recovery::RecoveryStrategyPre::new(pre)?)
        }
        (PluginKind::ScenarioGenerator, true) => {
            TypedPre::GeneratorV0_1(v0_1::generator::ScenarioGeneratorPre::new(pre)?)
        }
        (PluginKind::Validator, false) => TypedPre::Validator(validator::ValidatorPre::new(pre)?),
        (PluginKind::RecoveryStrategy, false) => {
            TypedPre::Recovery(recovery::RecoveryStrategyPre::new(pre)?)
        }
        (PluginKind::ScenarioGenerator, false) => {
            TypedPre::Generator(generator::ScenarioGeneratorPre::new(pre)?)
        }
    })
}

/// The WASI packages the linker provides (`wasmtime_wasi::p2`), under the empty context.
const PROVIDED_WASI: [&str; 6] = ["cli", "clocks", "filesystem", "io", "random", "sockets"];

/// The imports no part of the host provides: anything but `aura:host` and those WASI
/// packages (`wasi:http`, `wasi:keyvalue`...).
fn unprovided(imports: &[String]) -> Vec<String> {
    imports
        .iter()
        .filter(|name| {
            let provided = name.starts_with("aura:host/")
                || name
                    .strip_prefix("wasi:")
                    .and_then(|rest| rest.split('/').next())
                    .is_some_and(|package| PROVIDED_WASI.contains(&package));
            !provided
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::compatible;

    #[test]
    fn imports_no_part_of_the_host_provides_are_named() {
        let imports = [
            "aura:host/cache@0.1.2",
            "wasi:io/poll@0.2.12",
            "wasi:http/types@0.2.10",
            "wasi:sockets/network@0.2.9",
            "acme:db/query",
        ]
        .map(String::from);
        assert_eq!(
            super::unprovided(&imports),
            ["wasi:http/types@0.2.10", "acme:db/query"]
        );
    }

    #[test]
    fn zero_versions_are_compatible_within_a_minor() {
        assert!(compatible("0.1.0", "0.1.0"));
        assert!(compatible("0.1.3", "0.1.0"));
        assert!(!compatible("0.2.0", "0.1.0"));
        assert!(compatible("1.4.0", "1.0.0"));
        assert!(!compatible("2.0.0", "1.0.0"));
        assert!(!compatible("x", "0.1.0"));
    }
}
