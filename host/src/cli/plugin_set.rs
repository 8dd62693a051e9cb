//! `aura-host plugin verify SET` and `plugin lock SET`: a curated plugin set for CI,
//! checked without running a plugin (digests, worlds, contract versions, grants and
//! limits, linking) and pinned by sha256.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;

use super::{CliError, ExitCode};
use crate::config::AuraConfig;
use aura_runtime::manifest;
use aura_services::ServiceHub;

#[derive(Debug, Args)]
pub struct SetArgs {
    /// The plugin set (`[[plugin]]` entries, docs/plugins.md).
    set: PathBuf,
}

/// Loads every plugin of the set as `run --plugins` would, stopping short of calling it;
/// reports each. Exit 0 when all load, 2 otherwise.
pub fn verify(
    config: &AuraConfig,
    hub: Arc<ServiceHub>,
    args: &SetArgs,
) -> Result<ExitCode, CliError> {
    let specs = manifest::load(&args.set)?;
    let runtime = super::plugin::runtime(config, hub)?;
    out!("{}: {} plugin(s)", args.set.display(), specs.len());
    let mut failed = 0;
    for spec in specs {
        let name = spec.name.clone();
        match runtime.load(spec) {
            Ok(plugin) => out!(
                "  ok    {name}  {}  aura:host@{}  sha256 {}  grants: {}",
                plugin.kind,
                plugin.contract,
                plugin.digest,
                plugin.spec.grants.summary()
            ),
            Err(e) => {
                failed += 1;
                out!("  FAIL  {name}: {}", aura_services::error_chain(&e));
            }
        }
    }
    if failed > 0 {
        out!("{failed} plugin(s) would not load");
        return Ok(ExitCode::BadInput);
    }
    out!("all verified; nothing was run");
    Ok(ExitCode::Ok)
}

/// Writes the sha256 of each entry's component into the set, keeping the rest of the
/// file (comments, order) as it is.
pub fn lock(args: &SetArgs) -> Result<ExitCode, CliError> {
    let set = &args.set;
    let bad =
        |what: String| CliError::new(ExitCode::BadInput, format!("{}: {what}", set.display()));
    let text = std::fs::read_to_string(set).map_err(|e| bad(format!("cannot read: {e}")))?;
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| bad(e.to_string()))?;
    let base = set.parent().unwrap_or(Path::new("."));
    let entries = doc
        .get_mut("plugin")
        .and_then(|p| p.as_array_of_tables_mut())
        .ok_or_else(|| bad("no [[plugin]] entries".into()))?;
    let mut changed = 0;
    for (i, entry) in entries.iter_mut().enumerate() {
        let name = entry
            .get("name")
            .and_then(|n| n.as_str())
            .unwrap_or("?")
            .to_string();
        let path = entry
            .get("path")
            .and_then(|p| p.as_str())
            .ok_or_else(|| bad(format!("plugin[{i}] ({name}): no `path`")))?;
        let file = base.join(path);
        let bytes = std::fs::read(&file)
            .map_err(|e| bad(format!("plugin[{i}] ({name}): {}: {e}", file.display())))?;
        let digest = aura_runtime::digest(&bytes);
        let before = entry
            .get("sha256")
            .and_then(|s| s.as_str())
            .map(str::to_string);
        let status = match before.as_deref() {
            Some(d) if d.eq_ignore_ascii_case(&digest) => "unchanged",
            Some(_) => "updated",
            None => "pinned",
        };
        if status != "unchanged" {
            changed += 1;
            entry["sha256"] = toml_edit::value(digest.clone());
        }
        out!("  {status:9} {name}  sha256 {digest}");
    }
    if changed > 0 {
        let tmp = set.with_extension("toml.lock-tmp");
        std::fs::write(&tmp, doc.to_string())
            .and_then(|()| std::fs::rename(&tmp, set))
            .map_err(|e| bad(format!("cannot write: {e}")))?;
    }
    out!("{}: {changed} digest(s) written", set.display());
    Ok(ExitCode::Ok)
}
