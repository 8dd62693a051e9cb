//! The run plan (seed 002's PlanExecution): scenarios ordered by their `depends_on` into
//! stages; the scenarios of one stage are independent and may run in parallel. An
//! unknown dependency or a cycle is bad input, named before anything runs.

use std::collections::{BTreeMap, BTreeSet};

use super::scenario::Scenario;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PlanError {
    #[error("scenario '{scenario}' depends on '{missing}', which is not in this run")]
    UnknownDependency { scenario: String, missing: String },
    #[error("scenario id '{0}' is used by two scenarios")]
    DuplicateId(String),
    #[error("scenarios depend on each other in a cycle: {}", .0.join(" → "))]
    Cycle(Vec<String>),
}

/// The longest the scenarios can take, run stage by stage with `jobs` at once: each
/// scenario ends by its `max_execution_time` (its validators included). A stage of no
/// more scenarios than `jobs` takes its longest; a larger one, scheduled greedily (the
/// next scenario starts when one ends), at most total / jobs + longest × (jobs − 1) / jobs.
pub fn time_bound(scenarios: &[&Scenario], jobs: usize) -> Result<std::time::Duration, PlanError> {
    let jobs = jobs.max(1) as u32;
    let mut bound = std::time::Duration::ZERO;
    for stage in stages(scenarios)? {
        let times: Vec<std::time::Duration> = scenarios
            .iter()
            .filter(|s| stage.contains(&s.id))
            .map(|s| s.max_execution_time)
            .collect();
        let longest = times.iter().copied().max().unwrap_or_default();
        bound += if times.len() as u32 <= jobs {
            longest
        } else {
            times.iter().sum::<std::time::Duration>() / jobs + longest * (jobs - 1) / jobs
        };
    }
    Ok(bound)
}

/// Stages of scenario ids: every scenario comes after all it depends on.
pub fn stages(scenarios: &[&Scenario]) -> Result<Vec<Vec<String>>, PlanError> {
    let mut deps: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for s in scenarios {
        if deps.insert(&s.id, BTreeSet::new()).is_some() {
            return Err(PlanError::DuplicateId(s.id.clone()));
        }
    }
    for s in scenarios {
        for d in &s.depends_on {
            if !deps.contains_key(d.as_str()) {
                return Err(PlanError::UnknownDependency {
                    scenario: s.id.clone(),
                    missing: d.clone(),
                });
            }
            if let Some(set) = deps.get_mut(s.id.as_str()) {
                set.insert(d);
            }
        }
    }
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut out = Vec::new();
    while done.len() < deps.len() {
        let stage: Vec<&str> = deps
            .iter()
            .filter(|(id, d)| !done.contains(*id) && d.iter().all(|x| done.contains(x)))
            .map(|(id, _)| *id)
            .collect();
        if stage.is_empty() {
            return Err(PlanError::Cycle(cycle(&deps, &done)));
        }
        done.extend(stage.iter().copied());
        out.push(stage.into_iter().map(str::to_string).collect());
    }
    Ok(out)
}

/// One cycle among the scenarios not yet planned, for the message.
fn cycle(deps: &BTreeMap<&str, BTreeSet<&str>>, done: &BTreeSet<&str>) -> Vec<String> {
    let Some(start) = deps.keys().find(|k| !done.contains(*k)) else {
        return Vec::new();
    };
    let mut path: Vec<&str> = vec![start];
    loop {
        let last = path[path.len() - 1];
        let Some(next) = deps[last].iter().find(|d| !done.contains(*d)) else {
            return path.into_iter().map(str::to_string).collect();
        };
        if let Some(at) = path.iter().position(|p| p == next) {
            let mut ring: Vec<String> = path[at..].iter().map(|s| s.to_string()).collect();
            ring.push(next.to_string());
            return ring;
        }
        path.push(next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn scenario(id: &str, deps: &[&str]) -> Scenario {
        let deps: Vec<String> = deps.iter().map(|d| format!("\"{d}\"")).collect();
        Scenario::parse(
            Path::new("x.toml"),
            &format!(
                "id = \"{id}\"\nname = \"{id}\"\ndepends_on = [{}]\n",
                deps.join(", ")
            ),
        )
        .expect("scenario")
    }

    #[test]
    fn the_time_bound_follows_stages_and_jobs() {
        let timed = |id: &str, deps: &[&str], secs: u64| {
            let mut s = scenario(id, deps);
            s.max_execution_time = std::time::Duration::from_secs(secs);
            s
        };
        let (a, b, c) = (
            timed("a", &[], 10),
            timed("b", &[], 30),
            timed("c", &["a"], 5),
        );
        let secs = |jobs| time_bound(&[&a, &b, &c], jobs).expect("plan").as_secs();
        // Stage [a, b] at once (30) then [c] (5).
        assert_eq!(secs(2), 35);
        // One at a time: the sum.
        assert_eq!(secs(1), 45);
    }

    #[test]
    fn independent_scenarios_share_a_stage_and_dependants_follow() {
        let (a, b, c, d) = (
            scenario("a", &[]),
            scenario("b", &[]),
            scenario("c", &["a"]),
            scenario("d", &["c", "b"]),
        );
        let plan = stages(&[&d, &c, &b, &a]).expect("plan");
        assert_eq!(plan, vec![vec!["a", "b"], vec!["c"], vec!["d"]]);
    }

    #[test]
    fn unknown_dependencies_and_cycles_are_named() {
        let a = scenario("a", &["zzz"]);
        assert_eq!(
            stages(&[&a]),
            Err(PlanError::UnknownDependency {
                scenario: "a".into(),
                missing: "zzz".into()
            })
        );
        let (x, y, z) = (
            scenario("x", &["y"]),
            scenario("y", &["z"]),
            scenario("z", &["x"]),
        );
        let e = stages(&[&x, &y, &z]).expect_err("cycle").to_string();
        assert!(e.contains("x → y → z → x"), "{e}");
    }
}
