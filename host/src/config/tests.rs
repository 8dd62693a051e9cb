//! Reading `aura.toml`: errors with line and field, defaults, every table.

use std::path::Path;

use super::*;

fn parse(path: &Path, text: &str) -> Result<AuraConfig, ConfigError> {
    parse_toml(path, text)
}

fn err(text: &str) -> ConfigError {
    parse(Path::new("aura.toml"), text).expect_err("must be rejected")
}

#[test]
fn empty_file_is_the_defaults() {
    let c = parse(Path::new("a.toml"), "").expect("empty parses");
    assert_eq!(c, AuraConfig::default());
}

#[test]
fn wrong_type_names_line_and_field() {
    let e = err("[services.redis]\nurl = \"redis://x:1\"\ntimeout = 5\n");
    let ConfigError::Malformed { line, field, .. } = &e else {
        panic!("{e}")
    };
    assert_eq!(*line, 3, "{e}");
    assert_eq!(field, "services.redis.timeout", "{e}");
}

#[test]
fn unknown_field_is_rejected_with_its_line() {
    let e = err("state_dir = \".aura\"\n\n[services.kafka]\nbrokerz = \"x:1\"\n");
    let ConfigError::Malformed { line, message, .. } = &e else {
        panic!("{e}")
    };
    assert_eq!(*line, 4, "{e}");
    assert!(message.contains("brokerz"), "{e}");
}

#[test]
fn syntax_error_has_a_line() {
    let e = err("[services.redis\nurl = 1\n");
    let ConfigError::Malformed { line, .. } = &e else {
        panic!("{e}")
    };
    assert_eq!(*line, 1, "{e}");
}

#[test]
fn durations_are_human() {
    let c = parse(
        Path::new("a.toml"),
        "[services.temporal]\ntimeout = \"1500ms\"\nrequired = false\n",
    )
    .expect("parses");
    assert_eq!(
        c.services.temporal.timeout,
        std::time::Duration::from_millis(1500)
    );
    assert!(!c.services.temporal.required);
}

#[test]
fn target_and_gpu_tables_parse_and_reject_unknown_keys() {
    let c = parse(
        Path::new("a.toml"),
        "[target]\nstep_pause = \"250ms\"\n[target.council]\nagents = 7\n\
         [gpu]\ncompute = \"cpu\"\ndevices = [{ id = \"g\", model = \"L4\", memory_gb = 24 }]\n",
    )
    .expect("parses");
    assert_eq!(c.target.council.agents, 7);
    assert_eq!(c.target.step_pause, std::time::Duration::from_millis(250));
    assert_eq!(c.gpu.devices.len(), 1);
    let e = err("[target.council]\nagent = 3\n").to_string();
    assert!(e.contains("a.toml:2") && e.contains("agent"), "{e}");
}
