//! Hot reload. A [`PluginSlot`] holds the current version of a plugin; callers take an
//! `Arc` of it per call, so a swap never disturbs a call in flight. [`watch`] follows the
//! slots' files: a changed `.wasm` is compiled off the async runtime and swapped in; one
//! that does not load is refused, the old version keeps serving, and the error is
//! reported.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use notify::{RecursiveMode, Watcher as _};
use tokio::sync::mpsc;

use super::error::LoadError;
use super::load::Plugin;
use super::runtime::PluginRuntime;

/// A file may be written in several steps; wait this long after the last change before
/// loading it. `cargo build` links or copies a finished component into place at once;
/// a version caught half-written is refused (the old one keeps serving) and the change
/// that completes it loads.
const SETTLE: Duration = Duration::from_millis(50);

pub struct PluginSlot {
    current: RwLock<Arc<Plugin>>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ReloadEvent {
    Swapped {
        plugin: String,
        old_digest: String,
        new_digest: String,
    },
    Refused {
        plugin: String,
        error: String,
    },
}

impl PluginSlot {
    pub fn new(plugin: Plugin) -> Arc<Self> {
        Arc::new(Self {
            current: RwLock::new(Arc::new(plugin)),
        })
    }

    /// The version to use for the next call.
    pub fn get(&self) -> Arc<Plugin> {
        match self.current.read() {
            Ok(p) => p.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn path(&self) -> PathBuf {
        self.get().spec.path.clone()
    }

    /// Loads the slot's file again and swaps it in if it changed; on error the old
    /// version stays.
    pub fn reload(&self, runtime: &PluginRuntime) -> Result<Option<ReloadEvent>, LoadError> {
        let old = self.get();
        let new = runtime.load(old.spec.clone())?;
        if new.digest == old.digest {
            return Ok(None);
        }
        let event = ReloadEvent::Swapped {
            plugin: old.spec.name.clone(),
            old_digest: old.digest.clone(),
            new_digest: new.digest.clone(),
        };
        match self.current.write() {
            Ok(mut current) => *current = Arc::new(new),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(new),
        }
        Ok(Some(event))
    }
}

/// Stops watching when dropped.
pub struct Watcher {
    _watcher: notify::RecommendedWatcher,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Watches the slots' files and reports every swap or refusal on `events`.
pub fn watch(
    runtime: Arc<PluginRuntime>,
    slots: Vec<Arc<PluginSlot>>,
    events: mpsc::UnboundedSender<ReloadEvent>,
) -> Result<Watcher, LoadError> {
    let (tx, mut rx) = mpsc::unbounded_channel::<PathBuf>();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(event) = res
            && (event.kind.is_modify() || event.kind.is_create())
        {
            for path in event.paths {
                let _ = tx.send(path);
            }
        }
    })
    .map_err(|e| LoadError::Engine(format!("cannot watch plugin files: {e}")))?;
    // Watch directories, not files: builds replace files, which ends a file watch.
    let mut dirs: Vec<PathBuf> = slots
        .iter()
        .filter_map(|s| s.path().parent().map(PathBuf::from))
        .collect();
    dirs.sort();
    dirs.dedup();
    for dir in &dirs {
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir.clone()
        };
        watcher
            .watch(&dir, RecursiveMode::NonRecursive)
            .map_err(|e| LoadError::Engine(format!("cannot watch {}: {e}", dir.display())))?;
    }
    let task = tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut changed = vec![first];
            while let Ok(Some(p)) = tokio::time::timeout(SETTLE, rx.recv()).await {
                changed.push(p);
            }
            for slot in &slots {
                let path = slot.path();
                let path = std::fs::canonicalize(&path).unwrap_or(path);
                if !changed
                    .iter()
                    .any(|c| std::fs::canonicalize(c).unwrap_or(c.clone()) == path)
                {
                    continue;
                }
                let (runtime, slot) = (runtime.clone(), slot.clone());
                let name = slot.get().spec.name.clone();
                let loaded = tokio::task::spawn_blocking(move || slot.reload(&runtime)).await;
                let event = match loaded {
                    Ok(Ok(Some(event))) => event,
                    Ok(Ok(None)) => continue,
                    Ok(Err(e)) => ReloadEvent::Refused {
                        plugin: name,
                        error: e.to_string(),
                    },
                    Err(e) => ReloadEvent::Refused {
                        plugin: name,
                        error: e.to_string(),
                    },
                };
                match &event {
                    ReloadEvent::Swapped {
                        plugin, new_digest, ..
                    } => {
                        tracing::info!(plugin, digest = %new_digest, "reloaded")
                    }
                    ReloadEvent::Refused { plugin, error } => {
                        tracing::error!(
                            plugin,
                            "new version refused, the old one keeps serving: {error}"
                        )
                    }
                }
                if events.send(event).is_err() {
                    return;
                }
            }
        }
    });
    Ok(Watcher {
        _watcher: watcher,
        task,
    })
}
