//! Embeds what an installed `aura-host` ships, for `aura-host init` to write into a
//! project (`host/src/init/`): every file under `scenarios/` (the suites and their fixtures), and each shipped
//! plugin (`plugins/<name>/`, a Rust crate) as the component `host/scripts/build-plugins.sh`
//! built before this build. A plugin not built yet is left out, and `init` says so; the
//! build script builds nothing itself.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest.parent().expect("host/ is in the workspace");
    let mut out = String::new();

    let scenarios = root.join("scenarios");
    println!("cargo:rerun-if-changed={}", scenarios.display());
    let mut files = Vec::new();
    walk(&scenarios, &mut files);
    files.sort();
    out.push_str("pub const SCENARIOS: &[(&str, &str)] = &[\n");
    for f in &files {
        let rel = f
            .strip_prefix(&scenarios)
            .expect("under scenarios/")
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        let _ = writeln!(
            out,
            "    ({rel:?}, include_str!({:?})),",
            f.display().to_string()
        );
    }
    out.push_str("];\n");

    // Where build-plugins.sh puts the components (AURA_PLUGINS_BUILT for another target dir).
    println!("cargo:rerun-if-env-changed=AURA_PLUGINS_BUILT");
    let built = std::env::var_os("AURA_PLUGINS_BUILT")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/wasm32-wasip2/release"));
    let plugins = root.join("plugins");
    println!("cargo:rerun-if-changed={}", plugins.display());
    let mut crates: Vec<PathBuf> = std::fs::read_dir(&plugins)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    crates.retain(|d| d.join("Cargo.toml").is_file());
    crates.sort();
    out.push_str("pub const PLUGINS: &[Shipped] = &[\n");
    for dir in crates {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let kind = kind_of(&dir.join("src"));
        let wasm = built.join(format!("{name}.wasm"));
        // An absent file reruns this script on every build until it is built.
        println!("cargo:rerun-if-changed={}", wasm.display());
        let bytes = match wasm.is_file() {
            true => format!("Some(include_bytes!({:?}))", wasm.display().to_string()),
            false => "None".into(),
        };
        let _ = writeln!(
            out,
            "    Shipped {{ name: {name:?}, kind: {kind:?}, wasm: {bytes} }},"
        );
    }
    out.push_str("];\n");

    let dest = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo")).join("shipped.rs");
    std::fs::write(dest, out).expect("write shipped.rs");
}

fn walk(dir: &Path, into: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, into);
        } else {
            into.push(path);
        }
    }
}

/// The plugin's kind, as its crate exports it (the SDK's `export_<kind>!`), in the
/// plugin set's words.
fn kind_of(src: &Path) -> &'static str {
    let mut files = Vec::new();
    walk(src, &mut files);
    let text: String = files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .collect();
    if text.contains("export_recovery_strategy!") {
        "recovery-strategy"
    } else if text.contains("export_scenario_generator!") {
        "scenario-generator"
    } else {
        "validator"
    }
}
