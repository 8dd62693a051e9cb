//! What a plugin's run context tells it about its scenario (since `aura:host` 0.2): the
//! faults the scenario declares and the load it runs under, so a validator can tell an
//! expected degradation from a defect.

use super::load::{LoadSpec, Model};
use super::scenario::Scenario;
use crate::chaos::FaultSpec;
use aura_runtime::bindings::{FaultFact, LoadFacts};

/// The scenario's `[[faults]]` (a `[chaos]` plan's random faults are drawn as it runs
/// and are not listed).
pub fn faults(scenario: &Scenario) -> Vec<FaultFact> {
    scenario.faults.iter().map(fault).collect()
}

fn fault(f: &FaultSpec) -> FaultFact {
    FaultFact {
        action: f.action.name(),
        service: f.service.map(|s| s.name().to_string()),
        at_step: f.at_step.map(Into::into),
        request_id: f.request.clone(),
        duration_ms: f
            .duration
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
    }
}

pub fn load(scenario: &Scenario) -> Option<LoadFacts> {
    scenario.load.as_ref().map(facts)
}

fn facts(l: &LoadSpec) -> LoadFacts {
    let open = l.model == Model::Open;
    LoadFacts {
        model: l.model.name().to_string(),
        peak_rate: open.then(|| {
            l.stages
                .iter()
                .flat_map(|s| [s.rate, s.from.unwrap_or(0.0)])
                .fold(0.0, f64::max)
        }),
        max_in_flight: l.max_in_flight,
        virtual_users: l.vus,
        validate_batch: l.validate_batch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aura_runtime::bindings::Step;

    fn shipped(file: &str) -> Scenario {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../scenarios")
            .join(file);
        Scenario::load(&path).unwrap_or_else(|e| panic!("{file}: {e}"))
    }

    #[test]
    fn a_chaos_scenario_shows_its_faults_and_a_load_scenario_its_load() {
        let chaos = shipped("chaos/graph_latency.toml");
        assert_eq!(
            faults(&chaos),
            [FaultFact {
                action: "latency".into(),
                service: Some("graph".into()),
                at_step: Some(Step::PersistDecision),
                request_id: None,
                duration_ms: Some(3000),
            }]
        );
        assert_eq!(load(&chaos), None);

        let ramp = shipped("load/ramp.toml");
        assert!(faults(&ramp).is_empty());
        assert_eq!(
            load(&ramp),
            Some(LoadFacts {
                model: "open".into(),
                peak_rate: Some(25.0),
                max_in_flight: 100,
                virtual_users: None,
                validate_batch: 100,
            })
        );
    }
}
