//! Starting servers detached from the CLI and stopping exactly the ones we started.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

/// Starts `binary` in its own process group (so it outlives the CLI and a Ctrl-C in the
/// terminal does not reach it), output appended to `log`.
pub fn spawn(binary: &Path, args: &[String], cwd: &Path, log: &Path) -> std::io::Result<Child> {
    let out = File::options().create(true).append(true).open(log)?;
    let err = out.try_clone()?;
    Command::new(binary)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
}

/// True when `pid` is alive (not a zombie) and is still `binary`, so a recycled pid is
/// never mistaken for our server.
pub fn is_ours(pid: u32, binary: &Path) -> bool {
    if !running(pid) {
        return false;
    }
    let Ok(exe) = std::fs::read_link(format!("/proc/{pid}/exe")) else {
        return false;
    };
    let canonical = std::fs::canonicalize(binary).unwrap_or_else(|_| binary.to_path_buf());
    exe == canonical || exe == binary
}

/// SIGTERM to the process group, then SIGKILL if it has not exited within `grace`.
/// Returns false if the process was still there after SIGKILL.
pub fn terminate(pid: u32, binary: &Path, grace: Duration) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return true;
    };
    let target = Pid::from_raw(raw);
    let _ = killpg(target, Signal::SIGTERM).or_else(|_| kill(target, Signal::SIGTERM));
    if wait_gone(pid, binary, grace) {
        return true;
    }
    let _ = killpg(target, Signal::SIGKILL).or_else(|_| kill(target, Signal::SIGKILL));
    wait_gone(pid, binary, Duration::from_secs(5))
}

/// Waits until `pid` is no longer our `binary`; false if it still is after `within`.
pub fn wait_gone(pid: u32, binary: &Path, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if !is_ours(pid, binary) && !tearing_down(pid) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether `pid` exists and is no zombie (the state letter follows the parenthesised
/// command name in `/proc/<pid>/stat`).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !matches!(
            stat.rsplit(')')
                .next()
                .and_then(|r| r.trim_start().chars().next()),
            Some('Z' | 'X') | None
        )
    })
}

/// A process that exists and is no zombie but whose executable is already gone
/// (`/proc/<pid>/exe` not found): one exiting, its memory released, not yet reaped.
/// `down` waits for it, so it never says "stopped" of a server still exiting.
fn tearing_down(pid: u32) -> bool {
    let alive = std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !matches!(
            stat.rsplit(')')
                .next()
                .and_then(|r| r.trim_start().chars().next()),
            Some('Z' | 'X') | None
        )
    });
    alive
        && std::fs::read_link(format!("/proc/{pid}/exe"))
            .is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
}

/// The last `lines` lines of a log, for error messages.
pub fn log_tail(log: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
