//! aura-sdk: bindings generated from the `aura:host` WIT package (`wit/`) plus helpers
//! for plugin authors.
//!
//! A validator implements [`Guest`] and exports itself with [`export_validator!`];
//! `plugins/smoke_validator` is the complete example, built by `just plugins`.

pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "validator",
        pub_export_macro: true,
        export_macro_name: "export_validator",
        default_bindings_module: "aura_sdk::bindings",
    });
}

pub use bindings::aura::host::log::{Level, log};
pub use bindings::aura::host::types::{Check, RunContext, ValidationResult};
pub use bindings::{Guest, export_validator};

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
}

impl ValidationResult {
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.passed)
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
}
