//! Process faults on the local profile's servers: a server killed (SIGKILL) and started
//! again once the fault's time is over, paused (SIGSTOP) and continued (SIGCONT), or
//! restarted. `env fault` injects them by hand; they are the process faults of the chaos
//! engine. A fault always heals, also when its wait is cut short (Ctrl-C): the server is
//! continued or started again before `inject` returns.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use serde::Serialize;

use aura_services::ServiceKind;

use super::state::EnvState;
use super::{EnvConfig, EnvironmentError, Profile, process};

/// The longest a fault may hold a server down.
pub const MAX_HOLD: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum ProcessFault {
    /// SIGKILL, then started again once the fault's time is over.
    Kill,
    /// SIGSTOP, then SIGCONT once the fault's time is over.
    Pause,
    /// Stopped (SIGTERM, then SIGKILL) and started again at once.
    Restart,
}

impl ProcessFault {
    pub fn name(self) -> &'static str {
        match self {
            Self::Kill => "kill",
            Self::Pause => "pause",
            Self::Restart => "restart",
        }
    }
}

/// One fault, injected and healed.
#[derive(Debug, Clone, Serialize)]
pub struct Injected {
    pub service: ServiceKind,
    pub fault: ProcessFault,
    pub pid: u32,
    /// The server's pid once healed: a new one after a kill or a restart.
    pub healed_pid: u32,
    pub injected_at: DateTime<Utc>,
    pub healed_at: DateTime<Utc>,
    /// The fault's time was cut short (`stop` fired first).
    pub cut_short: bool,
}

/// Injects `fault` into the local server of `service`, holds it for `hold` or until
/// `stop` completes, and heals it.
pub async fn inject(
    config: &EnvConfig,
    service: ServiceKind,
    fault: ProcessFault,
    hold: Duration,
    stop: impl Future<Output = ()>,
) -> Result<Injected, EnvironmentError> {
    if hold > MAX_HOLD {
        return Err(EnvironmentError::Unsupported(format!(
            "a fault holds at most {}, not {}",
            humantime::format_duration(MAX_HOLD),
            humantime::format_duration(hold)
        )));
    }
    let struck = strike(config, service, fault)?;
    let cut_short = match fault {
        ProcessFault::Restart => false,
        ProcessFault::Kill | ProcessFault::Pause => held(hold, stop).await,
    };
    struck.heal(config, cut_short).await
}

/// A fault in effect: healed by [`Struck::heal`]. Dropped unhealed, a paused server is
/// continued; a killed one stays down until `env up`.
#[derive(Debug)]
pub struct Struck {
    pub service: ServiceKind,
    pub fault: ProcessFault,
    pub pid: u32,
    binary: std::path::PathBuf,
    pub injected_at: DateTime<Utc>,
    _resume: Option<Resume>,
}

/// Injects `fault` into the local server of `service` at once, in the caller's thread
/// (a signal; a restart stops the server first): what lets a fault hit the step that
/// fired it, before that step's work.
pub fn strike(
    config: &EnvConfig,
    service: ServiceKind,
    fault: ProcessFault,
) -> Result<Struck, EnvironmentError> {
    let record = EnvState::load(&config.state_dir)?
        .services
        .remove(&service)
        .filter(|r| process::is_ours(r.pid, &r.binary))
        .ok_or_else(|| {
            EnvironmentError::Unsupported(format!(
                "{service} is not running in {} (start it with `aura-host env up {service}`; \
                 process faults act on the local profile's servers, network faults also on \
                 compose through Toxiproxy)",
                config.state_dir.display()
            ))
        })?;
    let pid = record.pid;
    let injected_at = Utc::now();
    let resume = match fault {
        ProcessFault::Pause => {
            let resume = Resume::hold(pid);
            signal(service, pid, Signal::SIGSTOP)?;
            // Continued on every path out, a panic included.
            Some(resume)
        }
        ProcessFault::Kill => {
            signal(service, pid, Signal::SIGKILL)?;
            None
        }
        ProcessFault::Restart => {
            super::down(config, Profile::Local, &[service])?;
            None
        }
    };
    Ok(Struck {
        service,
        fault,
        pid,
        binary: record.binary,
        injected_at,
        _resume: resume,
    })
}

impl Struck {
    /// Ends the fault: a paused server is continued, a killed or stopped one started
    /// again and awaited until it answers.
    pub async fn heal(
        self,
        config: &EnvConfig,
        cut_short: bool,
    ) -> Result<Injected, EnvironmentError> {
        let (service, pid) = (self.service, self.pid);
        if self.fault == ProcessFault::Kill {
            let binary = self.binary.clone();
            let gone = tokio::task::spawn_blocking(move || {
                process::wait_gone(pid, &binary, Duration::from_secs(10))
            })
            .await
            .unwrap_or(false);
            if !gone {
                return Err(EnvironmentError::Stop { service, pid });
            }
        }
        let healed_pid = match self.fault {
            ProcessFault::Pause => pid,
            ProcessFault::Kill | ProcessFault::Restart => {
                let started = super::up(config, Profile::Local, &[service]).await?;
                started.first().map_or(pid, |o| o.pid)
            }
        };
        let (fault, injected_at) = (self.fault, self.injected_at);
        // The pause ends here, when `_resume` is dropped.
        drop(self);
        Ok(Injected {
            service,
            fault,
            pid,
            healed_pid,
            injected_at,
            healed_at: Utc::now(),
            cut_short,
        })
    }
}

/// Waits out the fault; true when `stop` ended it first.
async fn held(hold: Duration, stop: impl Future<Output = ()>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(hold) => false,
        _ = stop => true,
    }
}

/// `sig` to the server's process group (it leads one), else to the process alone.
fn signal(service: ServiceKind, pid: u32, sig: Signal) -> Result<(), EnvironmentError> {
    let raw = i32::try_from(pid).map_err(|_| EnvironmentError::Stop { service, pid })?;
    let target = Pid::from_raw(raw);
    killpg(target, sig)
        .or_else(|_| kill(target, sig))
        .map_err(|e| EnvironmentError::Io {
            what: format!("{service}: send {sig} to pid {pid}"),
            reason: e.to_string(),
        })
}

/// Pauses in effect per process: overlapping pauses of one server continue it only
/// when the last of them heals.
static PAUSES: std::sync::Mutex<BTreeMap<u32, u32>> = std::sync::Mutex::new(BTreeMap::new());

fn pauses() -> std::sync::MutexGuard<'static, BTreeMap<u32, u32>> {
    PAUSES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Continues a paused server when the last pause of it is dropped.
#[derive(Debug)]
struct Resume(u32);

impl Resume {
    fn hold(pid: u32) -> Self {
        *pauses().entry(pid).or_default() += 1;
        Self(pid)
    }
}

impl Drop for Resume {
    fn drop(&mut self) {
        let last = {
            let mut held = pauses();
            let n = held.entry(self.0).or_insert(1);
            *n = n.saturating_sub(1);
            let last = *n == 0;
            if last {
                held.remove(&self.0);
            }
            last
        };
        if last && let Ok(raw) = i32::try_from(self.0) {
            let target = Pid::from_raw(raw);
            let _ = killpg(target, Signal::SIGCONT).or_else(|_| kill(target, Signal::SIGCONT));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(pid: u32) -> Option<char> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        stat.rsplit(')').next()?.trim_start().chars().next()
    }

    /// Two overlapping pauses of one process: the first to heal leaves it stopped, the
    /// last continues it.
    #[test]
    fn overlapping_pauses_continue_the_server_when_the_last_heals() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep");
        let pid = child.id();
        let first = Resume::hold(pid);
        let second = Resume::hold(pid);
        kill(Pid::from_raw(pid as i32), Signal::SIGSTOP).expect("SIGSTOP");
        let stopped = |want: char| {
            // The kernel applies a signal asynchronously: poll, with a deadline.
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while state(pid) != Some(want) && std::time::Instant::now() < deadline {
                std::thread::yield_now();
            }
            state(pid)
        };
        assert_eq!(stopped('T'), Some('T'));
        drop(first);
        assert_eq!(state(pid), Some('T'), "one pause still holds it");
        drop(second);
        assert_eq!(stopped('S'), Some('S'), "continued by the last");
        let _ = child.kill();
        let _ = child.wait();
    }
}
