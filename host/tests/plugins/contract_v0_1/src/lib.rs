//! A validator built against the frozen 0.1 contract (`wit/v0.1`), the way every plugin
//! shipped before 0.2 was: the host must load it and serve its host calls beside plugins
//! built against the latest version. It checks each request's cached decision.

wit_bindgen::generate!({
    path: "../../../../wit/v0.1",
    world: "validator",
    generate_all,
});

use aura::host::cache;
use aura::host::types::Check;
use aura_contract::names::decision_key;

struct Plugin;

impl Guest for Plugin {
    fn validate(ctx: RunContext) -> Result<ValidationResult, PluginError> {
        let checks = ctx
            .request_ids
            .iter()
            .map(|id| {
                let (passed, actual) = match cache::get(&decision_key(&ctx.run_id, id)) {
                    Ok(Some(decision)) => (true, decision),
                    Ok(None) => (false, "nothing".to_string()),
                    Err(e) => (false, format!("host error: {e:?}")),
                };
                Check {
                    name: format!("0.1 plugin: decision cached for {id}"),
                    passed,
                    expected: "a cached decision".into(),
                    actual,
                    message: String::new(),
                }
            })
            .collect();
        Ok(ValidationResult { checks })
    }
}

export!(Plugin);
