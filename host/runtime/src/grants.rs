//! What a plugin may do. Nothing is granted by default: each host interface, each write,
//! each cache key prefix and Kafka topic must be named in the plugin's manifest. A call
//! outside the grant is refused with the manifest line that would allow it, so the fix
//! is obvious from the message.

use std::path::PathBuf;

use aura_contract::names;
use serde::{Deserialize, Serialize};

/// Where a grant's key prefixes and topics say "this run": replaced by the run id.
const RUN: &str = "{run}";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    #[default]
    None,
    Read,
    Write,
}

/// A plugin's grants, as written under `[plugin.grants]` in a plugin set. Names may use
/// `{run}` for the run id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub struct Grants {
    /// `graph = "read"` (read-only queries) or `"write"`.
    pub graph: Access,
    pub cache: CacheGrant,
    pub events: EventsGrant,
    /// Temporal execution status and history of the run's own requests: workflow ids
    /// `aura-<run>-…`, never another run's.
    pub workflow: bool,
    /// WorkflowTraces of the run's requests.
    pub trace: bool,
    /// GPU inventory and device probes.
    pub gpu: bool,
    /// A host directory the plugin may read, preopened read-only at `/data`.
    pub directory: Option<PathBuf>,
    /// Host environment variables passed through by name.
    pub env: Vec<String>,
    /// The run these grants were bound to ([`Self::for_run`]); scopes `workflow`.
    #[serde(skip)]
    run: String,
    /// The requests of the call they were bound to ([`Self::for_call`]): `workflow`
    /// covers exactly their workflow ids.
    #[serde(skip)]
    requests: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub struct CacheGrant {
    pub access: Access,
    /// Keys the plugin may touch start with one of these, e.g. `"aura:{run}:ctx:"`.
    pub key_prefixes: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default, rename_all = "kebab-case")]
pub struct EventsGrant {
    pub access: Access,
    /// Topics the plugin may use; a trailing `*` matches any suffix, e.g. `"aura.{run}.*"`.
    pub topics: Vec<String>,
}

impl Grants {
    /// What `aura-host run --plugin x.wasm` grants when no manifest says otherwise: reading
    /// the run's own data and nothing else. No writes, files, environment or network.
    pub fn run_read_only() -> Self {
        Self {
            graph: Access::Read,
            cache: CacheGrant {
                access: Access::Read,
                key_prefixes: vec![names::key_prefix(RUN)],
            },
            events: EventsGrant {
                access: Access::Read,
                topics: vec![format!("{}*", names::topic_prefix(RUN))],
            },
            workflow: true,
            trace: true,
            gpu: true,
            directory: None,
            env: Vec::new(),
            run: String::new(),
            requests: Vec::new(),
        }
    }

    /// A write these grants allow outside the run's own namespace (`{run}` key prefixes
    /// and topics), in manifest words; `None` when every write stays in it. A run
    /// against a deployed target allows plugins nothing else: its data there is its own
    /// namespace, the rest is the deployment's.
    pub fn write_outside_run(&self) -> Option<String> {
        if self.graph == Access::Write {
            return Some("graph = \"write\" (the graph is shared with the deployment)".into());
        }
        if self.cache.access == Access::Write {
            let own = names::key_prefix(RUN);
            if let Some(p) = self
                .cache
                .key_prefixes
                .iter()
                .find(|p| !p.starts_with(&own))
            {
                return Some(format!(
                    "cache write on key prefix {p:?} (only {own:?}... is the run's)"
                ));
            }
        }
        if self.events.access == Access::Write {
            let own = names::topic_prefix(RUN);
            if let Some(t) = self.events.topics.iter().find(|t| !t.starts_with(&own)) {
                return Some(format!(
                    "events write on topic {t:?} (only {own:?}... are the run's)"
                ));
            }
        }
        None
    }

    /// The grants in words, for `plugin inspect` and the report.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if self.graph != Access::None {
            parts.push(format!(
                "graph {} (the run's own graph)",
                access_name(self.graph)
            ));
        }
        if self.cache.access != Access::None {
            parts.push(format!(
                "cache {} {:?}",
                access_name(self.cache.access),
                self.cache.key_prefixes
            ));
        }
        if self.events.access != Access::None {
            parts.push(format!(
                "events {} {:?}",
                access_name(self.events.access),
                self.events.topics
            ));
        }
        for (granted, name) in [
            (self.workflow, "workflow (its requests')"),
            (self.trace, "trace"),
            (self.gpu, "gpu"),
        ] {
            if granted {
                parts.push(name.to_string());
            }
        }
        if let Some(dir) = &self.directory {
            parts.push(format!("directory {} at /data (read-only)", dir.display()));
        }
        if !self.env.is_empty() {
            parts.push(format!("env {:?}", self.env));
        }
        if parts.is_empty() {
            "nothing".into()
        } else {
            parts.join(" · ")
        }
    }

    /// The grants with `{run}` replaced by this run's id.
    pub fn for_run(&self, run_id: &str) -> Self {
        let subst = |v: &[String]| v.iter().map(|s| s.replace(RUN, run_id)).collect();
        let mut g = self.clone();
        g.cache.key_prefixes = subst(&self.cache.key_prefixes);
        g.events.topics = subst(&self.events.topics);
        g.run = run_id.to_string();
        g
    }

    /// The grants bound to one call: its run and the request ids of its context.
    pub fn for_call(&self, run_id: &str, request_ids: &[String]) -> Self {
        let mut g = self.for_run(run_id);
        g.requests = request_ids.to_vec();
        g
    }

    /// `workflow = true` covers the workflows of the requests of the call the grants
    /// are bound to, by exact id: run ids may contain `-`, so a prefix would also match
    /// a run named `<run>-1`.
    pub fn check_workflow(&self, workflow_id: &str) -> Result<(), Denial> {
        Self::check_flag(self.workflow, "workflow")?;
        let own = aura_contract::names::workflow_prefix(&self.run);
        // `names::workflow_id(run, r)` is `own` + `r`: compared without building one id
        // per request (a batch of N ids would otherwise build N² of them).
        let known = workflow_id
            .strip_prefix(own.as_str())
            .is_some_and(|r| self.requests.iter().any(|q| q == r));
        if self.run.is_empty() || !known {
            return Err(Denial {
                attempted: format!("workflow {:?}", cut(workflow_id)),
                grant: "workflow = true".into(),
                scope: Some(format!(
                    "the workflows of this call's requests, {own}<request id>"
                )),
            });
        }
        Ok(())
    }

    pub fn check_graph(&self, needed: Access) -> Result<(), Denial> {
        if self.graph >= needed {
            return Ok(());
        }
        Err(Denial::new(
            format!("graph {} access", access_name(needed)),
            format!("graph = \"{}\"", access_name(needed)),
        ))
    }

    pub fn check_cache(&self, needed: Access, key: &str) -> Result<(), Denial> {
        if self.cache.access < needed {
            return Err(Denial::new(
                format!("cache {} of {:?}", access_name(needed), cut(key)),
                format!("cache.access = \"{}\"", access_name(needed)),
            ));
        }
        if !self
            .cache
            .key_prefixes
            .iter()
            .any(|p| key.starts_with(p.as_str()))
        {
            return Err(Denial::new(
                format!(
                    "cache key {:?} is outside the granted prefixes {:?}",
                    cut(key),
                    self.cache.key_prefixes
                ),
                format!("cache.key-prefixes = [\"{}\"]", cut(up_to_last(key, ':'))),
            ));
        }
        Ok(())
    }

    /// A scan may only cover keys the plugin could read one by one.
    pub fn check_cache_prefix(&self, prefix: &str) -> Result<(), Denial> {
        self.check_cache(Access::Read, prefix)
    }

    pub fn check_topic(&self, needed: Access, topic: &str) -> Result<(), Denial> {
        if self.events.access < needed {
            return Err(Denial::new(
                format!("events {} of topic {:?}", access_name(needed), cut(topic)),
                format!("events.access = \"{}\"", access_name(needed)),
            ));
        }
        let allowed = self
            .events
            .topics
            .iter()
            .any(|t| match t.strip_suffix('*') {
                Some(prefix) => topic.starts_with(prefix),
                None => topic == t,
            });
        if !allowed {
            return Err(Denial::new(
                format!(
                    "topic {:?} is not in the granted topics {:?}",
                    cut(topic),
                    self.events.topics
                ),
                format!("events.topics = [\"{}\"]", cut(topic)),
            ));
        }
        Ok(())
    }

    pub fn check_flag(granted: bool, interface: &str) -> Result<(), Denial> {
        if granted {
            Ok(())
        } else {
            Err(Denial::new(
                format!("the {interface} interface"),
                format!("{interface} = true"),
            ))
        }
    }
}

/// A refused host call: what was attempted and the grant line that would allow it, or,
/// when no grant can (another run's workflow), the grant and what it covers.
#[derive(Debug, Clone, PartialEq)]
pub struct Denial {
    pub attempted: String,
    pub grant: String,
    /// What `grant` covers when the call is outside it whatever the manifest says.
    pub scope: Option<String>,
}

impl Denial {
    fn new(attempted: String, grant: String) -> Self {
        Self {
            attempted,
            grant,
            scope: None,
        }
    }
}

impl std::fmt::Display for Denial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.scope {
            None => write!(
                f,
                "{} is not granted; add `{}` to the plugin's [grants]",
                self.attempted, self.grant
            ),
            Some(scope) => write!(
                f,
                "{} is outside the `{}` grant, which covers only {scope}",
                self.attempted, self.grant
            ),
        }
    }
}

fn access_name(a: Access) -> &'static str {
    match a {
        Access::None => "none",
        Access::Read => "read",
        Access::Write => "write",
    }
}

/// `"secret:team:x"` → `"secret:team:"`: the narrowest prefix worth suggesting.
/// A plugin's key, topic or id as a denial shows it: at most 200 bytes (a 60 MiB key is
/// not copied into every message about it).
fn cut(text: &str) -> std::borrow::Cow<'_, str> {
    if text.len() <= 200 {
        return text.into();
    }
    let mut end = 200;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end]).into()
}

fn up_to_last(key: &str, sep: char) -> &str {
    key.rfind(sep).map_or(key, |i| &key[..=i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_granted_by_default() {
        let g = Grants::default();
        assert!(g.check_graph(Access::Read).is_err());
        assert!(g.check_cache(Access::Read, "aura:r:ctx").is_err());
        assert!(g.check_topic(Access::Read, "aura.r.x").is_err());
        assert!(Grants::check_flag(g.trace, "trace").is_err());
    }

    #[test]
    fn writes_outside_the_runs_namespace_are_named() {
        assert_eq!(Grants::run_read_only().write_outside_run(), None);
        let mut g = Grants::run_read_only();
        g.cache.access = Access::Write;
        assert_eq!(g.write_outside_run(), None, "its own prefix only");
        g.cache.key_prefixes.push("aura:".into());
        assert!(
            g.write_outside_run()
                .is_some_and(|w| w.contains("\"aura:\""))
        );
        let mut g = Grants::run_read_only();
        g.events.access = Access::Write;
        g.events.topics = vec!["gpu.*".into()];
        assert!(g.write_outside_run().is_some_and(|w| w.contains("gpu.*")));
        let mut g = Grants::run_read_only();
        g.graph = Access::Write;
        assert!(
            g.write_outside_run()
                .is_some_and(|w| w.starts_with("graph"))
        );
    }

    #[test]
    fn run_read_only_is_scoped_to_the_run() {
        let g = Grants::run_read_only().for_run("r1");
        assert!(g.check_cache(Access::Read, "aura:r1:ctx:a").is_ok());
        let other = g
            .check_cache(Access::Read, "aura:r2:ctx:a")
            .expect_err("other run");
        assert_eq!(other.grant, "cache.key-prefixes = [\"aura:r2:ctx:\"]");
        let write = g
            .check_cache(Access::Write, "aura:r1:ctx:a")
            .expect_err("no writes");
        assert_eq!(write.grant, "cache.access = \"write\"");
        assert!(
            g.check_topic(Access::Read, "aura.r1.gpu.allocation.decided")
                .is_ok()
        );
        let topic = g
            .check_topic(Access::Read, "aura.r2.gpu")
            .expect_err("other run");
        assert_eq!(topic.grant, "events.topics = [\"aura.r2.gpu\"]");
        assert!(g.check_graph(Access::Read).is_ok());
        assert!(g.check_graph(Access::Write).is_err());
    }

    #[test]
    fn the_workflow_grant_covers_only_the_calls_own_workflows() {
        let g = Grants::run_read_only().for_call("r1", &["req-1".into()]);
        assert!(g.check_workflow("aura-r1-req-1").is_ok());
        // `aura-r1-1-req-1` is run `r1-1`'s, though it starts with `aura-r1-`.
        for other in [
            "aura-r2-req-1",
            "aura-r1x-req",
            "aura-r1-1-req-1",
            "aura-r1-req-2",
            "other",
            "",
        ] {
            let d = g.check_workflow(other).expect_err(other);
            assert!(
                d.to_string()
                    .contains("outside the `workflow = true` grant"),
                "{d}"
            );
            assert!(d.to_string().contains("aura-r1-<request id>"), "{d}");
        }
        let unbound = Grants::run_read_only();
        assert!(
            unbound.check_workflow("aura--x").is_err(),
            "no run, no workflows"
        );
        let none = Grants::default().for_call("r1", &["q".into()]);
        assert_eq!(
            none.check_workflow("aura-r1-q")
                .expect_err("not granted")
                .grant,
            "workflow = true"
        );
    }

    #[test]
    fn denial_names_the_manifest_line() {
        let d = Grants::default()
            .check_cache(Access::Read, "aura:ctx:1")
            .expect_err("denied");
        assert!(d.to_string().contains("cache.access = \"read\""), "{d}");
    }
}
