//! Helpers over the generated types: building checks, reading configuration, naming the
//! run's keys and topics, and turning host errors into plugin errors with `?`.

use crate::{Check, HostError, PluginError, RunContext, ValidationResult};

impl Check {
    /// A check that passes when `actual` equals `expected`, with both recorded.
    pub fn expect_eq(name: &str, expected: impl ToString, actual: impl ToString) -> Self {
        let (expected, actual) = (expected.to_string(), actual.to_string());
        let passed = expected == actual;
        let message = if passed {
            String::new()
        } else {
            format!("{name}: expected {expected}, found {actual}")
        };
        Self {
            name: name.to_string(),
            passed,
            expected,
            actual,
            message,
        }
    }

    /// A check from a condition, with a message for when it fails.
    pub fn expect(
        name: &str,
        passed: bool,
        expected: &str,
        actual: impl ToString,
        message: &str,
    ) -> Self {
        Self {
            name: name.to_string(),
            passed,
            expected: expected.to_string(),
            actual: actual.to_string(),
            message: if passed {
                String::new()
            } else {
                message.to_string()
            },
        }
    }

    /// A failed check for a host call that went wrong, so the result says why.
    pub fn host_failure(name: &str, expected: &str, error: &HostError) -> Self {
        Self::expect(name, false, expected, "host error", &error.reason())
    }
}

impl ValidationResult {
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.passed)
    }
}

impl RunContext {
    /// The plugin's `[config]` table from its manifest, deserialised into `T`.
    pub fn config<T: serde::de::DeserializeOwned>(&self) -> Result<T, PluginError> {
        toml::from_str(&self.config).map_err(|e| PluginError::Config(e.to_string()))
    }

    /// The full Redis key of `name` in this run: `aura:<run-id>:<name>`.
    pub fn key(&self, name: &str) -> String {
        aura_contract::names::key(&self.run_id, name)
    }

    /// The full Kafka topic of `name` in this run: `aura.<run-id>.<name>`.
    pub fn topic(&self, name: &str) -> String {
        aura_contract::names::topic(&self.run_id, name)
    }
}

// wit-bindgen derives `Display` and `Error` for these from `Debug`; these say it in words.
impl HostError {
    pub fn reason(&self) -> String {
        match self {
            HostError::Denied(m) => format!("denied: {m}"),
            HostError::Unavailable(m) => format!("unavailable: {m}"),
            HostError::Invalid(m) => format!("invalid: {m}"),
            HostError::Timeout(m) => format!("timeout: {m}"),
        }
    }
}

impl From<HostError> for PluginError {
    fn from(e: HostError) -> Self {
        PluginError::Host(e)
    }
}

impl PluginError {
    pub fn reason(&self) -> String {
        match self {
            PluginError::Config(m) => format!("bad plugin config: {m}"),
            PluginError::Host(e) => format!("host call failed: {}", e.reason()),
            PluginError::Internal(m) => m.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expect_eq_records_expected_and_actual() {
        let ok = Check::expect_eq("count", 3, 3);
        assert!(ok.passed && ok.message.is_empty());
        let bad = Check::expect_eq("count", 3, 2);
        assert!(!bad.passed);
        assert_eq!((bad.expected.as_str(), bad.actual.as_str()), ("3", "2"));
        assert_eq!(bad.message, "count: expected 3, found 2");
        assert!(
            !ValidationResult {
                checks: vec![ok, bad]
            }
            .passed()
        );
    }

    #[test]
    fn config_is_typed_and_its_errors_are_config_errors() {
        #[derive(serde::Deserialize)]
        struct Cfg {
            deadline_ms: u64,
        }
        let mut ctx = RunContext {
            run_id: "r1".into(),
            scenario: "s".into(),
            request_ids: vec![],
            config: "deadline_ms = 2000".into(),
            faults: Vec::new(),
            load: None,
        };
        assert_eq!(ctx.config::<Cfg>().map(|c| c.deadline_ms).ok(), Some(2000));
        assert_eq!(ctx.key("ctx:req-1"), "aura:r1:ctx:req-1");
        assert_eq!(
            ctx.topic("gpu.allocation.decided"),
            "aura.r1.gpu.allocation.decided"
        );
        ctx.config = "deadline_ms = \"soon\"".into();
        assert!(matches!(ctx.config::<Cfg>(), Err(PluginError::Config(_))));
    }
}
