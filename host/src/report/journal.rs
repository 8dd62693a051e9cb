//! The run journal: one JSON record per line, appended and flushed (to the OS, then the
//! disk) as each step or check completes, so a killed host loses nothing it had
//! finished. Reading tolerates a torn last line (the write a kill interrupted) and
//! nothing else: a malformed line in the middle is reported with its number.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One journaled fact: what kind of record it is and its JSON body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Milliseconds since the Unix epoch, when it was written.
    pub at: i64,
    /// `run_started`, `request_decided`, `check`, `recovery`, `run_finished`, ...
    pub kind: String,
    pub body: serde_json::Value,
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error(
        "run id already used: its journal {path} exists, and a run id names one run \
         (its data, workflows and report); choose another, or leave --run-id out for a \
         fresh one"
    )]
    Exists { path: PathBuf },
    #[error("journal {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("journal {path}: a record cannot be written as JSON")]
    Encode {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("journal {path}:{line}: not a journal record: {reason}")]
    Malformed {
        path: PathBuf,
        line: usize,
        reason: String,
    },
}

pub struct Journal {
    path: PathBuf,
    file: File,
}

impl Journal {
    /// Creates the journal of a new run at `path` (and its folder); one that exists is
    /// another run's, never appended to.
    pub fn create(path: &Path) -> Result<Self, JournalError> {
        let io = |source| JournalError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(path)
            .map_err(|source| {
                if source.kind() == std::io::ErrorKind::AlreadyExists {
                    JournalError::Exists {
                        path: path.to_path_buf(),
                    }
                } else {
                    io(source)
                }
            })?;
        // Held while the run lives and dropped by the kernel when its process ends, however
        // it ends: a journal nobody holds and with no `run_finished` is a killed run's.
        file.try_lock()
            .map_err(|e| io(std::io::Error::other(format!("cannot lock it: {e}"))))?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
        })
    }

    /// The kind of the last whole record, read from the file's end only: whether a run
    /// finished is asked of every journal at each start, and journals grow long.
    pub fn last_kind(path: &Path) -> Option<String> {
        use std::io::{Read, Seek, SeekFrom};
        const TAIL: u64 = 64 << 10;
        let mut file = File::open(path).ok()?;
        let len = file.metadata().ok()?.len();
        file.seek(SeekFrom::Start(len.saturating_sub(TAIL))).ok()?;
        let mut tail = Vec::new();
        file.read_to_end(&mut tail).ok()?;
        let text = String::from_utf8_lossy(&tail);
        // A torn last line (a kill mid-write) is no record; the one before it is.
        text.lines()
            .rev()
            .find_map(|line| serde_json::from_str::<Record>(line).ok())
            .map(|r| r.kind)
    }

    /// Whether the run writing the journal at `path` is still alive (holds its lock).
    pub fn is_held(path: &Path) -> bool {
        File::open(path)
            .is_ok_and(|f| matches!(f.try_lock(), Err(std::fs::TryLockError::WouldBlock)))
    }

    /// Opens an existing file for appending: for tests that need a journal whose writes
    /// fail (`/dev/full`).
    #[cfg(test)]
    pub fn append_to(path: &Path) -> Result<Self, JournalError> {
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|source| JournalError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Appends one record, stamped now, and waits until it is on disk.
    pub fn append(&mut self, kind: &str, body: &impl Serialize) -> Result<(), JournalError> {
        self.append_at(chrono::Utc::now().timestamp_millis(), kind, body)
    }

    /// [`Self::append`] with the time it happened (ms since the Unix epoch).
    pub fn append_at(
        &mut self,
        at: i64,
        kind: &str,
        body: &impl Serialize,
    ) -> Result<(), JournalError> {
        let encode = |source| JournalError::Encode {
            path: self.path.clone(),
            source,
        };
        let record = Record {
            at,
            kind: kind.to_string(),
            body: serde_json::to_value(body).map_err(encode)?,
        };
        let mut line = serde_json::to_vec(&record).map_err(encode)?;
        line.push(b'\n');
        let io = |source| JournalError::Io {
            path: self.path.clone(),
            source,
        };
        // One write per record, so a kill tears at most the last line.
        self.file.write_all(&line).map_err(io)?;
        self.file.sync_data().map_err(io)
    }

    /// Every complete record of the journal at `path`, in order.
    pub fn read(path: &Path) -> Result<Vec<Record>, JournalError> {
        let io = |source| JournalError::Io {
            path: path.to_path_buf(),
            source,
        };
        let lines: Vec<String> = BufReader::new(File::open(path).map_err(io)?)
            .lines()
            .collect::<Result<_, _>>()
            .map_err(io)?;
        let last = lines.len();
        let mut records = Vec::with_capacity(last);
        for (i, line) in lines.iter().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str(line) {
                Ok(r) => records.push(r),
                // The write a kill interrupted: everything before it is whole.
                Err(_) if i + 1 == last => break,
                Err(e) => {
                    return Err(JournalError::Malformed {
                        path: path.to_path_buf(),
                        line: i + 1,
                        reason: e.to_string(),
                    });
                }
            }
        }
        Ok(records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_come_back_in_order_and_a_torn_tail_is_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("runs/r1/journal.jsonl");
        let mut j = Journal::create(&path).expect("create");
        j.append("run_started", &serde_json::json!({"run": "r1"}))
            .expect("append");
        j.append("check", &serde_json::json!({"name": "c", "passed": true}))
            .expect("append");
        j.append("run_finished", &"ok").expect("append");
        drop(j);
        // A run id names one run: its journal is never opened by a second one.
        assert!(matches!(
            Journal::create(&path),
            Err(JournalError::Exists { .. })
        ));
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(b"{\"at\": 1, \"kind\": \"chec"))
            .expect("torn write");
        let records = Journal::read(&path).expect("read");
        let kinds: Vec<&str> = records.iter().map(|r| r.kind.as_str()).collect();
        assert_eq!(kinds, ["run_started", "check", "run_finished"]);
        assert_eq!(
            Journal::last_kind(&path).as_deref(),
            Some("run_finished"),
            "read from the end, past the torn line"
        );
        assert_eq!(records[1].body["passed"], true);
    }

    #[test]
    fn a_malformed_line_in_the_middle_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("j.jsonl");
        std::fs::write(&path, "{\"at\":1,\"kind\":\"a\",\"body\":null}\nnonsense\n{\"at\":2,\"kind\":\"b\",\"body\":null}\n").expect("write");
        let e = Journal::read(&path).expect_err("malformed").to_string();
        assert!(e.contains("j.jsonl:2"), "{e}");
    }
}
