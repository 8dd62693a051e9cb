//! `aura-host plugin inspect|new`.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand};

use super::{CliError, ExitCode};
use crate::config::AuraConfig;
use crate::plugins::{PluginKind, PluginRuntime, scaffold};
use crate::services::ServiceHub;

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Show what a component is: world, aura:host version, imports, exports, size, digest.
    Inspect(InspectArgs),
    /// Create a plugin crate that builds and passes its own test on the first try.
    New(NewArgs),
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The component (`.wasm`).
    wasm: PathBuf,
    /// Print JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// Crate name: a-z, 0-9, '-' and '_'.
    name: String,
    #[arg(long, value_enum)]
    kind: PluginKind,
    /// Directory to create the crate in.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// The aura-sdk directory the crate depends on [default: the one this host was built from].
    #[arg(long)]
    sdk: Option<PathBuf>,
}

pub async fn run(config: &AuraConfig, cmd: &PluginCommand) -> Result<ExitCode, CliError> {
    match cmd {
        PluginCommand::Inspect(args) => inspect(config, args),
        PluginCommand::New(args) => {
            let sdk = args.sdk.clone().unwrap_or_else(scaffold::default_sdk);
            let dir = scaffold::create(&args.dir, &args.name, args.kind, &sdk)
                .map_err(|e| CliError::caused(ExitCode::BadInput, &e))?;
            println!("created {} plugin {}", args.kind, dir.display());
            println!("  cd {}", dir.display());
            println!(
                "  cargo test                                        # builds it and runs it in aura-host"
            );
            println!("  cargo build --release --target wasm32-wasip2      # the component");
            println!(
                "  aura-host run --plugin target/wasm32-wasip2/release/{}.wasm",
                args.name.replace('-', "_")
            );
            Ok(ExitCode::Ok)
        }
    }
}

fn inspect(config: &AuraConfig, args: &InspectArgs) -> Result<ExitCode, CliError> {
    let runtime = runtime(config)?;
    let facts = runtime.inspect(&args.wasm)?;
    if args.json {
        let json = serde_json::to_string_pretty(&facts)
            .map_err(|e| CliError::caused(ExitCode::Failed, &e))?;
        println!("{json}");
        return Ok(ExitCode::Ok);
    }
    println!("{}", facts.path.display());
    let world = facts
        .kind
        .map_or("none (not an aura:host plugin)".into(), |k| {
            format!("aura:host/{}", k.world())
        });
    println!("  world     {world}");
    println!(
        "  package   aura:host@{}",
        facts.package_version.as_deref().unwrap_or("(none)")
    );
    println!("  size      {} bytes", facts.size);
    println!("  sha256    {}", facts.sha256);
    println!("  exports   {}", facts.exports.join(", "));
    println!("  imports");
    for import in &facts.imports {
        println!("    {import}");
    }
    Ok(ExitCode::Ok)
}

/// The plugin runtime with the compile cache under the state directory.
pub(super) fn runtime(config: &AuraConfig) -> Result<PluginRuntime, CliError> {
    let hub = Arc::new(ServiceHub::new(config.clone()));
    Ok(PluginRuntime::new(
        hub,
        Some(config.state_dir.join("plugin-cache")),
    )?)
}
