//! Following run journals as they are written: the dashboard's view of a run is its
//! journal (flushed per event), so a page opened late, or by another process
//! (`aura-host dashboard`), sees the same run from its first record.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// At most this much of a journal is read per poll, so a page catching up on a long run
/// gets it in pieces and live updates are not held behind it.
const CHUNK: u64 = 4 << 20;

/// The complete lines appended to a file since the last poll.
pub struct Tail {
    path: PathBuf,
    offset: u64,
    partial: Vec<u8>,
    caught_up: bool,
}

impl Tail {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            offset: 0,
            partial: Vec::new(),
            caught_up: false,
        }
    }

    /// Whether the last read reached the end of the file (no chunk left to read).
    pub fn caught_up(&self) -> bool {
        self.caught_up
    }

    /// The lines completed since the last call; a torn last line waits for its end. A
    /// file not there yet has no lines.
    pub fn lines(&mut self) -> std::io::Result<Vec<String>> {
        let mut file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.caught_up = true;
                return Ok(Vec::new());
            }
            Err(e) => return Err(e),
        };
        file.seek(SeekFrom::Start(self.offset))?;
        let read = file.take(CHUNK).read_to_end(&mut self.partial)?;
        self.offset += read as u64;
        self.caught_up = (read as u64) < CHUNK;
        let Some(end) = self.partial.iter().rposition(|b| *b == b'\n') else {
            return Ok(Vec::new());
        };
        let rest = self.partial.split_off(end + 1);
        let done = std::mem::replace(&mut self.partial, rest);
        Ok(String::from_utf8_lossy(&done)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect())
    }
}

/// A run in the state dir: its id and when its journal was last written.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunEntry {
    pub run_id: String,
    /// Milliseconds since the Unix epoch.
    pub modified: i64,
}

/// The state dir's runs, most recently written first.
pub fn runs(state_dir: &Path) -> Vec<RunEntry> {
    let Ok(entries) = std::fs::read_dir(state_dir.join("runs")) else {
        return Vec::new();
    };
    let mut runs: Vec<RunEntry> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let modified = e
                .path()
                .join("journal.jsonl")
                .metadata()
                .ok()?
                .modified()
                .ok()?;
            let ms = modified
                .duration_since(SystemTime::UNIX_EPOCH)
                .ok()?
                .as_millis();
            Some(RunEntry {
                run_id: e.file_name().to_string_lossy().into_owned(),
                modified: i64::try_from(ms).unwrap_or(i64::MAX),
            })
        })
        .collect();
    runs.sort_by(|a, b| b.modified.cmp(&a.modified).then(b.run_id.cmp(&a.run_id)));
    runs
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_tail_gives_each_complete_line_once_and_waits_for_a_torn_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("journal.jsonl");
        let mut tail = Tail::new(path.clone());
        assert!(tail.lines().expect("no file yet").is_empty());
        let mut f = File::create(&path).expect("create");
        f.write_all(b"{\"a\":1}\n{\"b\":").expect("write");
        assert_eq!(tail.lines().expect("lines"), ["{\"a\":1}"]);
        assert!(tail.lines().expect("nothing new").is_empty());
        f.write_all(b"2}\n").expect("write");
        assert_eq!(tail.lines().expect("lines"), ["{\"b\":2}"]);
    }

    #[test]
    fn runs_are_listed_newest_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        for id in ["old", "new"] {
            let run = dir.path().join("runs").join(id);
            std::fs::create_dir_all(&run).expect("mkdir");
            std::fs::write(run.join("journal.jsonl"), b"{}\n").expect("write");
            let at = SystemTime::UNIX_EPOCH
                + std::time::Duration::from_secs(if id == "old" { 1_000 } else { 2_000 });
            File::options()
                .append(true)
                .open(run.join("journal.jsonl"))
                .and_then(|f| f.set_modified(at))
                .expect("mtime");
        }
        std::fs::create_dir_all(dir.path().join("runs/empty")).expect("mkdir");
        let ids: Vec<String> = runs(dir.path()).into_iter().map(|r| r.run_id).collect();
        assert_eq!(ids, ["new", "old"]);
    }
}
