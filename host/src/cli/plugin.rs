//! `aura-host plugin inspect|new`.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand};

use super::scaffold;
use super::{CliError, ExitCode};
use crate::config::AuraConfig;
use aura_reference::gpu;
use aura_runtime::{GpuAccess, GpuDevice, GpuProbe, PluginKind, PluginRuntime};
use aura_services::ServiceHub;

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
    #[arg(long, value_parser = <PluginKind as std::str::FromStr>::from_str)]
    kind: PluginKind,
    /// Directory to create the crate in.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// The aura-sdk directory the crate depends on [default: the one this host was built from].
    #[arg(long)]
    sdk: Option<PathBuf>,
}

pub async fn run(
    config: &AuraConfig,
    hub: Arc<ServiceHub>,
    cmd: &PluginCommand,
) -> Result<ExitCode, CliError> {
    match cmd {
        PluginCommand::Inspect(args) => inspect(config, hub, args),
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

fn inspect(
    config: &AuraConfig,
    hub: Arc<ServiceHub>,
    args: &InspectArgs,
) -> Result<ExitCode, CliError> {
    let runtime = runtime(config, hub)?;
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

/// The plugin runtime on the process's hub, with the compile cache under the state
/// directory and the reference GPU core behind the `gpu` interface.
pub(super) fn runtime(
    config: &AuraConfig,
    hub: Arc<ServiceHub>,
) -> Result<PluginRuntime, CliError> {
    let cache = Some(config.state_dir.join("plugin-cache"));
    Ok(PluginRuntime::new(hub, cache)?.with_gpu(Arc::new(ReferenceGpus(config.gpu.clone()))))
}

/// The reference target's GPU core as the plugins' `gpu` interface.
struct ReferenceGpus(gpu::GpuConfig);

impl GpuAccess for ReferenceGpus {
    fn inventory(&self) -> Result<Vec<GpuDevice>, String> {
        let (devices, _) = gpu::discover(&self.0).map_err(|e| e.to_string())?;
        Ok(devices
            .into_iter()
            .map(|d| GpuDevice {
                index: d.index,
                model: d.model,
                memory_mib: u64::from(d.memory_gb) * 1024,
                source: d.source.name().into(),
            })
            .collect())
    }

    fn probe(&self, index: u32) -> GpuProbe {
        let r = gpu::probe(index);
        GpuProbe {
            index: r.index,
            usable: r.usable,
            micros: r.elapsed.map(|e| e.as_micros() as u64),
            detail: r.detail,
        }
    }
}
