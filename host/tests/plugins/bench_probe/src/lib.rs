//! The validator `host/benches/plugins.rs` measures. `mode` picks what one call does:
//! `trivial` (the run-id check, no host calls), `log-many` (`count` log imports) or
//! `cache-check` (reads `key` from Redis and compares it with `expected`) or
//! `graph-check` (runs `query` on the run's graph and compares the first column of its
//! first row with `expected`).

use aura_sdk::validator::Guest;
use aura_sdk::{Check, Level, PluginError, RunContext, ValidationResult, export_validator};

#[derive(serde::Deserialize)]
struct Config {
    mode: String,
    #[serde(default)]
    count: u32,
    #[serde(default)]
    key: String,
    #[serde(default)]
    expected: String,
    #[serde(default)]
    query: String,
}

/// The same check the benchmark runs natively, so the two can be compared.
pub fn run_id_well_formed(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

struct Probe;

impl Guest for Probe {
    fn validate(ctx: RunContext) -> Result<ValidationResult, PluginError> {
        let config: Config = ctx.config()?;
        let check = match config.mode.as_str() {
            "trivial" => Check::expect(
                "run id well formed",
                run_id_well_formed(&ctx.run_id),
                "1-64 of [a-z0-9-]",
                &ctx.run_id,
                "malformed run id",
            ),
            "log-many" => {
                for i in 0..config.count {
                    aura_sdk::log(Level::Trace, if i % 2 == 0 { "even" } else { "odd" });
                }
                Check::expect_eq("logged", config.count, config.count)
            }
            "cache-check" => {
                let value = aura_sdk::cache::get(&config.key)?;
                Check::expect_eq("cached value", &config.expected, value.unwrap_or_default())
            }
            "graph-check" => {
                let set = aura_sdk::graph::query(&config.query, &[])?;
                let first = set.rows.first().and_then(|r| r.first());
                let actual = match first {
                    Some(aura_sdk::graph::Value::Text(t)) => t.clone(),
                    Some(aura_sdk::graph::Value::Integer(i)) => i.to_string(),
                    other => format!("{other:?}"),
                };
                Check::expect_eq("graph value", &config.expected, actual)
            }
            other => return Err(PluginError::Config(format!("unknown mode {other:?}"))),
        };
        Ok(ValidationResult {
            checks: vec![check],
        })
    }
}

export_validator!(Probe);
