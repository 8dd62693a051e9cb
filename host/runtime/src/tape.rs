//! Record and replay. A recording holds one plugin call: who was called with what, every
//! host call it made with its arguments and answer (at the WIT level: graph rows, cache
//! values, events, workflow and trace data), and what the call returned. It is a JSON
//! Lines file, one line per item, so a reader can follow it and an error names a line.
//! Replaying answers the plugin's host calls from the file, with no service running.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::bindings::{
    Failure, GeneratedScenario, HostError, RecoveryAction, RunContext, ValidationResult,
};
use super::load::PluginKind;
use super::runtime::CallFailure;
use super::text;

/// The format of the file; a reader refuses another.
pub const FORMAT: u32 = 1;

/// Who was recorded: a replay must be of the same plugin, kind and contract minor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    pub plugin: String,
    pub kind: PluginKind,
    /// The `aura:host` version the component was built against.
    pub contract: String,
    pub digest: String,
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let short = self.digest.get(..12).unwrap_or(&self.digest);
        write!(
            f,
            "{} ({}, aura:host@{}, sha256 {short}…)",
            self.plugin, self.kind, self.contract
        )
    }
}

/// What the plugin was called with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CallInput {
    Validate { ctx: RunContext },
    Decide { ctx: RunContext, failure: Failure },
    Generate { ctx: RunContext, seed: u64 },
}

impl CallInput {
    pub fn context(&self) -> &RunContext {
        match self {
            Self::Validate { ctx } | Self::Decide { ctx, .. } | Self::Generate { ctx, .. } => ctx,
        }
    }
}

/// What a call returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CallOutput {
    Validation(ValidationResult),
    Action(RecoveryAction),
    Scenario(GeneratedScenario),
}

/// One host call: `cache.get`, its arguments in WIT order, its answer (`{"Ok": ..}` or
/// `{"Err": {"Unavailable": ".."}}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostCall {
    pub call: String,
    pub args: Value,
    pub answer: Value,
}

/// One line of the file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Line {
    Recording {
        format: u32,
        #[serde(flatten)]
        identity: Identity,
        input: Box<CallInput>,
    },
    HostCall(HostCall),
    Result(Result<CallOutput, CallFailure>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Recording {
    pub identity: Identity,
    pub input: CallInput,
    pub calls: Vec<HostCall>,
    pub result: Result<CallOutput, CallFailure>,
}

/// Why a recording cannot be read or used.
#[derive(Debug, thiserror::Error)]
pub enum TapeError {
    #[error("recording {path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("recording {path}:{line}: {reason}")]
    Corrupt {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error(
        "recording {path} is of {recorded}, not of {given}: record a run of this plugin \
         (`aura-host run --plugin … --record DIR`)"
    )]
    OtherPlugin {
        path: PathBuf,
        recorded: Box<Identity>,
        given: Box<Identity>,
    },
}

/// The largest recording read (a plugin's answers are bounded by its max-host-bytes).
const MAX_FILE_BYTES: u64 = 512 << 20;

impl Recording {
    /// Reads a file, naming the line of the first thing wrong with it.
    pub fn read(path: &Path) -> Result<Self, TapeError> {
        let corrupt = |line: usize, reason: String| TapeError::Corrupt {
            path: path.to_path_buf(),
            line,
            reason,
        };
        let read = |source| TapeError::Read {
            path: path.to_path_buf(),
            source,
        };
        let size = std::fs::metadata(path).map_err(read)?.len();
        if size > MAX_FILE_BYTES {
            return Err(corrupt(
                0,
                format!("larger than {} MiB", MAX_FILE_BYTES >> 20),
            ));
        }
        let text = std::fs::read_to_string(path).map_err(read)?;
        let mut header = None;
        let mut calls = Vec::new();
        let mut result = None;
        let mut last = 0;
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            if raw.trim().is_empty() {
                continue;
            }
            last = line;
            let parsed: Line = serde_json::from_str(raw).map_err(|e| {
                // serde's text ends with the position in this one line; the column says it.
                let text = e.to_string();
                let at = format!(" at line {} column {}", e.line(), e.column());
                let what = text.strip_suffix(&at).unwrap_or(&text);
                corrupt(
                    line,
                    format!("column {}: {}", e.column(), text::escape(what, 300)),
                )
            })?;
            if result.is_some() {
                return Err(corrupt(line, "a line after the result".into()));
            }
            match (parsed, &header) {
                (
                    Line::Recording {
                        format,
                        identity,
                        input,
                    },
                    None,
                ) => {
                    if format != FORMAT {
                        return Err(corrupt(
                            line,
                            format!("format {format}; this host reads format {FORMAT}"),
                        ));
                    }
                    header = Some((identity, *input));
                }
                (Line::Recording { .. }, Some(_)) => {
                    return Err(corrupt(line, "a second `recording` line".into()));
                }
                (_, None) => {
                    return Err(corrupt(
                        line,
                        "the first line must be the `recording` line".into(),
                    ));
                }
                (Line::HostCall(call), Some(_)) => calls.push(call),
                (Line::Result(r), Some(_)) => result = Some(r),
            }
        }
        let Some((identity, input)) = header else {
            return Err(corrupt(1, "empty: no `recording` line".into()));
        };
        let Some(result) = result else {
            return Err(corrupt(
                last + 1,
                "ends without a `result` line (cut short?)".into(),
            ));
        };
        Ok(Self {
            identity,
            input,
            calls,
            result,
        })
    }

    /// Writes the recording under `dir` as `<run-id>/<scenario>/<plugin>.jsonl` (`-2`,
    /// `-3`… when the plugin is called again in the same scenario); returns the file.
    pub fn write_under(&self, dir: &Path) -> std::io::Result<PathBuf> {
        let ctx = self.input.context();
        let scenario = dir
            .join(file_name(&ctx.run_id))
            .join(file_name(&ctx.scenario));
        std::fs::create_dir_all(&scenario)?;
        let stem = file_name(&self.identity.plugin);
        let text = self.to_jsonl()?;
        for n in 1.. {
            let path = match n {
                1 => scenario.join(format!("{stem}.jsonl")),
                n => scenario.join(format!("{stem}-{n}.jsonl")),
            };
            match std::fs::File::create_new(&path) {
                Ok(mut file) => {
                    file.write_all(text.as_bytes())?;
                    return Ok(path);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        unreachable!("an unbounded range ends only by returning")
    }

    /// The file's text: the `recording` line, a line per host call, the `result` line.
    pub fn to_jsonl(&self) -> serde_json::Result<String> {
        let mut text = String::new();
        let mut push = |line: &Line| -> serde_json::Result<()> {
            text.push_str(&serde_json::to_string(line)?);
            text.push('\n');
            Ok(())
        };
        push(&Line::Recording {
            format: FORMAT,
            identity: self.identity.clone(),
            input: Box::new(self.input.clone()),
        })?;
        for call in &self.calls {
            push(&Line::HostCall(call.clone()))?;
        }
        push(&Line::Result(self.result.clone()))?;
        Ok(text)
    }

    /// Refuses a recording of another plugin, kind or contract minor version.
    pub fn check_identity(&self, path: &Path, given: &Identity) -> Result<(), TapeError> {
        let same = self.identity.plugin == given.plugin
            && self.identity.kind == given.kind
            && super::load::compatible(&self.identity.contract, &given.contract);
        if same {
            return Ok(());
        }
        Err(TapeError::OtherPlugin {
            path: path.to_path_buf(),
            recorded: Box::new(self.identity.clone()),
            given: Box::new(given.clone()),
        })
    }
}

/// A name safe as one path component.
fn file_name(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    match safe.trim_start_matches('.') {
        "" => "_".into(),
        s => s.into(),
    }
}

/// What to do with a host call the recording does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnMiss {
    /// Answer `host-error::unavailable` naming the call; the replay reports the miss.
    #[default]
    Fail,
    /// Make the call to the real service (the environment must be up).
    Passthrough,
}

/// The host calls of one invocation, being recorded or answered from a recording.
pub(crate) enum Tape {
    Record(Vec<HostCall>),
    Replay(Replay),
}

pub(crate) struct Replay {
    calls: Arc<[HostCall]>,
    used: Vec<bool>,
    on_miss: OnMiss,
    pub(crate) misses: Vec<String>,
}

impl Replay {
    pub(crate) fn new(calls: &[HostCall], on_miss: OnMiss) -> Self {
        Self {
            used: vec![false; calls.len()],
            calls: calls.into(),
            on_miss,
            misses: Vec::new(),
        }
    }

    /// The recorded calls no replayed call asked for.
    pub(crate) fn unused(&self) -> usize {
        self.used.iter().filter(|u| !**u).count()
    }
}

impl Tape {
    /// The recorded answer to `call(args)`: the first unused one that matches, else the
    /// last that matches (the same question asked again). `None` when the live call is
    /// to be made (recording, or a miss passed through).
    pub(crate) fn replayed<T: serde::de::DeserializeOwned>(
        &mut self,
        call: &str,
        args: &Value,
    ) -> Option<Result<T, HostError>> {
        let Self::Replay(replay) = self else {
            return None;
        };
        let matches = |c: &HostCall| c.call == call && &c.args == args;
        let found = (0..replay.calls.len())
            .find(|&i| !replay.used[i] && matches(&replay.calls[i]))
            .or_else(|| replay.calls.iter().rposition(matches));
        let Some(index) = found else {
            let shown = text::escape(&format!("{call} {args}"), 300);
            replay.misses.push(shown.clone());
            return match replay.on_miss {
                OnMiss::Passthrough => None,
                OnMiss::Fail => Some(Err(HostError::Unavailable(format!(
                    "replay: the recording has no answer to {shown}"
                )))),
            };
        };
        replay.used[index] = true;
        let answer = replay.calls[index].answer.clone();
        Some(serde_json::from_value(answer).unwrap_or_else(|e| {
            Err(HostError::Invalid(format!(
                "replay: the recorded answer to {call} does not fit its type: {e}"
            )))
        }))
    }

    /// Keeps a live answer when recording.
    pub(crate) fn record<T: Serialize>(
        &mut self,
        call: &str,
        args: Value,
        answer: &Result<T, HostError>,
    ) {
        if let Self::Record(calls) = self {
            calls.push(HostCall {
                call: call.to_string(),
                args,
                answer: serde_json::to_value(answer).unwrap_or(Value::Null),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recording() -> Recording {
        Recording {
            identity: Identity {
                plugin: "decision_persistence".into(),
                kind: PluginKind::Validator,
                contract: "0.2.0".into(),
                digest: "ab".repeat(32),
            },
            input: CallInput::Validate {
                ctx: RunContext {
                    run_id: "r1".into(),
                    scenario: "smoke/../x".into(),
                    request_ids: vec!["q1".into()],
                    config: String::new(),
                    faults: Vec::new(),
                    load: None,
                },
            },
            calls: vec![HostCall {
                call: "cache.get".into(),
                args: serde_json::json!(["aura:r1:decision:q1"]),
                answer: serde_json::json!({"Ok": "approved"}),
            }],
            result: Ok(CallOutput::Validation(ValidationResult { checks: vec![] })),
        }
    }

    #[test]
    fn a_recording_reads_back_as_written_and_a_second_call_gets_its_own_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = recording().write_under(dir.path()).expect("write");
        let second = recording().write_under(dir.path()).expect("write");
        assert!(
            first.ends_with("r1/smoke_.._x/decision_persistence.jsonl"),
            "{first:?}"
        );
        assert!(
            second.ends_with("decision_persistence-2.jsonl"),
            "{second:?}"
        );
        assert_eq!(Recording::read(&first).expect("read"), recording());
    }

    #[test]
    fn a_corrupt_line_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = recording().write_under(dir.path()).expect("write");
        let text = std::fs::read_to_string(&path).expect("read");
        let mut lines: Vec<&str> = text.lines().collect();
        lines[1] = "{\"host-call\": {\"call\": 3}}";
        std::fs::write(&path, lines.join("\n")).expect("write");
        let e = Recording::read(&path).expect_err("corrupt").to_string();
        assert!(e.contains("decision_persistence.jsonl:2: column"), "{e}");
        let whole: Vec<&str> = text.lines().collect();
        std::fs::write(&path, whole[..2].join("\n")).expect("write");
        let e = Recording::read(&path).expect_err("cut").to_string();
        assert!(e.contains(":3: ends without a `result` line"), "{e}");
    }

    #[test]
    fn replay_answers_in_order_then_repeats_and_names_a_miss() {
        let mut rec = recording();
        rec.calls.push(HostCall {
            answer: serde_json::json!({"Ok": "denied"}),
            ..rec.calls[0].clone()
        });
        let mut tape = Tape::Replay(Replay::new(&rec.calls, OnMiss::Fail));
        let args = serde_json::json!(["aura:r1:decision:q1"]);
        let answers: Vec<Option<Result<String, HostError>>> =
            (0..3).map(|_| tape.replayed("cache.get", &args)).collect();
        assert_eq!(
            answers,
            [
                Some(Ok("approved".into())),
                Some(Ok("denied".into())),
                Some(Ok("denied".into()))
            ]
        );
        let miss: Option<Result<String, HostError>> =
            tape.replayed("cache.get", &serde_json::json!(["other"]));
        assert!(
            matches!(miss, Some(Err(HostError::Unavailable(m))) if m.contains("cache.get [\"other\"]"))
        );
    }
}
