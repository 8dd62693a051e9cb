//! Checks that the host hands a validator a well-formed run context, and that a call
//! outside its grants is refused. Build it with `just plugins` (a `wasm32-wasip2` cdylib
//! is already a component).

use aura_sdk::validator::Guest;
use aura_sdk::{Check, Level, PluginError, RunContext, ValidationResult, export_validator, log};

struct SmokeValidator;

impl Guest for SmokeValidator {
    fn validate(ctx: RunContext) -> Result<ValidationResult, PluginError> {
        log(Level::Info, &format!("validating run {}", ctx.run_id));
        let id_ok = !ctx.run_id.is_empty()
            && ctx.run_id.len() <= 64
            && ctx
                .run_id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        Ok(ValidationResult {
            checks: vec![
                Check::expect(
                    "run id well formed",
                    id_ok,
                    "1-64 of [a-z0-9-]",
                    &ctx.run_id,
                    "the host passed a malformed run id",
                ),
                Check::expect(
                    "scenario named",
                    !ctx.scenario.is_empty(),
                    "a scenario id",
                    &ctx.scenario,
                    "no scenario in the run context",
                ),
            ],
        })
    }
}

export_validator!(SmokeValidator);
