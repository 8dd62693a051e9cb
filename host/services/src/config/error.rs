use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not fit the schema.
    #[error("{path}:{line}:{column}: {field}: {message}")]
    Malformed {
        path: PathBuf,
        line: usize,
        column: usize,
        /// Dotted path of the offending field, or `(document)` for syntax errors.
        field: String,
        message: String,
    },
    /// The file parsed but a value makes no sense.
    #[error("invalid configuration: {field}: {reason}")]
    Invalid { field: String, reason: String },
}
