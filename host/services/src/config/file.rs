//! Parsing with errors that point at the file, line, column and field.

use std::path::Path;

use serde::de::DeserializeOwned;

use super::ConfigError;

/// Deserialises any TOML file of the project (config, plugin sets, scenarios) with errors
/// that name the file, line, column and field.
pub fn parse_toml<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, ConfigError> {
    let deserializer = toml::Deserializer::parse(text).map_err(|e| malformed(path, text, "", e))?;
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let field = e.path().to_string();
        malformed(path, text, &field, e.into_inner())
    })
}

fn malformed(path: &Path, text: &str, field: &str, e: toml::de::Error) -> ConfigError {
    let offset = e.span().map(|s| s.start).unwrap_or(0);
    let (line, column) = line_column(text, offset);
    ConfigError::Malformed {
        path: path.to_path_buf(),
        line,
        column,
        field: if field.is_empty() || field == "." {
            "(document)".into()
        } else {
            field.into()
        },
        message: e.message().trim().to_string(),
    }
}

/// 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}
