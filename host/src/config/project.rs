//! Where a project's relative paths are anchored, so `aura-host run` finds `scenarios/`
//! and the plugins dir from the repository root and from any directory below it.
//!
//! The project directory is, first found wins: `--project-dir` / `AURA_PROJECT_DIR`; the
//! directory of the config file (`--config`, or the nearest `aura.toml` in the current
//! directory or above it); the nearest directory at or above the current one that has a
//! `scenarios/` directory; the current directory.

use std::path::{Path, PathBuf};

/// The config file's name looked for in the current directory and its ancestors.
pub const CONFIG_FILE: &str = "aura.toml";
/// The folder whose presence marks a project root when there is no config file.
const SCENARIOS_DIR: &str = "scenarios";

/// The nearest `aura.toml` at or above `cwd`.
pub fn find_config(cwd: &Path) -> Option<PathBuf> {
    cwd.ancestors()
        .map(|d| d.join(CONFIG_FILE))
        .find(|p| p.is_file())
}

/// The nearest directory at or above `cwd` that has `scenarios/`, else `cwd`.
pub fn find_root(cwd: &Path) -> PathBuf {
    cwd.ancestors()
        .find(|d| d.join(SCENARIOS_DIR).is_dir())
        .unwrap_or(cwd)
        .to_path_buf()
}

/// `path` itself when absolute, else `root/path`.
pub fn anchor(root: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        root.join(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_is_found_from_a_subdirectory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sub = dir.path().join("a/b");
        std::fs::create_dir_all(&sub).expect("mkdir");
        std::fs::create_dir(dir.path().join("scenarios")).expect("mkdir");
        assert_eq!(find_root(&sub), dir.path());
        assert_eq!(find_config(&sub), None);
        std::fs::write(dir.path().join("a/aura.toml"), "").expect("write");
        assert_eq!(find_config(&sub), Some(dir.path().join("a/aura.toml")));
    }

    #[test]
    fn without_a_marker_the_current_directory_is_the_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(find_root(dir.path()), dir.path());
        assert_eq!(anchor(dir.path(), Path::new("/x")), Path::new("/x"));
        assert_eq!(anchor(dir.path(), Path::new("x")), dir.path().join("x"));
    }
}
