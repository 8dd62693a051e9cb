use std::path::PathBuf;

use aura_services::config::ConfigError;

/// Why a plugin could not be loaded. Every message names the plugin file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("plugin {path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("plugin {path}: not a WebAssembly file (it does not start with \\0asm)")]
    NotWasm { path: PathBuf },
    #[error(
        "plugin {path}: a core WebAssembly module, not a component; build it for \
         wasm32-wasip2 (or run `wasm-tools component new`) so it speaks the aura:host WIT"
    )]
    CoreModule { path: PathBuf },
    #[error("plugin {path}: not a valid component: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error(
        "plugin {path}: exports {exports} but no aura:host world; a plugin exports one of \
         `validate` (validator), `decide` (recovery-strategy) or `generate` (scenario-generator)"
    )]
    WrongWorld { path: PathBuf, exports: String },
    #[error("plugin {path}: is a {found}, but the manifest says {expected}")]
    KindMismatch {
        path: PathBuf,
        expected: String,
        found: String,
    },
    #[error(
        "plugin {path}: wants {package}@{wanted}, this host serves {package} {offered}; \
         rebuild the plugin against the aura-sdk of one of them"
    )]
    Version {
        path: PathBuf,
        package: &'static str,
        wanted: String,
        /// Every version served.
        offered: String,
    },
    #[error("plugin {path}: does not link against the host: {reason}")]
    Link { path: PathBuf, reason: String },
    #[error("plugin {name} ({path}): sha256 is {actual}, the manifest pins {expected}")]
    Digest {
        name: String,
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error(transparent)]
    Manifest(#[from] ConfigError),
    #[error("plugin runtime: {0}")]
    Engine(String),
}
