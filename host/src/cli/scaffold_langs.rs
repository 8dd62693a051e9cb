//! `aura-host plugin new --lang python|js|ts`: a Python, JavaScript or TypeScript plugin
//! that builds with componentize-py or componentize-js (TypeScript type-checked and
//! compiled by `tsc` first) and passes its own `test.sh` on the first try, with no checkout of this repository: the SDK (`sdks`) and the contract (`wit/`)
//! this host serves are written beside it, and `test.sh` runs the built component in
//! this very host (`plugin call`).

use std::path::{Path, PathBuf};

use aura_runtime::PluginKind;
use aura_runtime::bindings::PACKAGE_VERSION;

use super::scaffold::ScaffoldError;
use super::sdks::Lang;

/// The WIT package this host serves, written into each Python plugin to build against.
const WIT: &str = include_str!("../../../wit/aura-host.wit");
/// The componentize-py the scaffold's build expects (the plugin step pins the same).
pub const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";
/// The npm packages a JS plugin builds with (the plugin step pins the same).
const COMPONENTIZE_JS: &str = "0.23.0";
const SMOL_TOML: &str = "1.6.0";
/// jco, for `npm run types` (TypeScript types of the WIT); the version whose `types`
/// reads WIT files here (1.35 does not).
const JCO: &str = "1.15.0";
/// The TypeScript compiler a TS plugin is checked and compiled with (the native `tsc`).
const TYPESCRIPT: &str = "7.0.2";

/// Writes `<parent>/<name>/` (the name already checked) and returns its path.
pub fn create(
    parent: &Path,
    name: &str,
    kind: PluginKind,
    lang: Lang,
) -> Result<PathBuf, ScaffoldError> {
    let dir = parent.join(name);
    if dir.exists() {
        return Err(ScaffoldError::Exists(dir));
    }
    let wasm = format!("{}.wasm", name.replace('-', "_"));
    let world = kind.to_string();
    let host = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "aura-host".into());
    let mut files = vec![
        ("plugin.toml", format!("world = \"{world}\"\n")),
        ("wit/aura-host.wit", WIT.to_string()),
        ("test.sh", test_sh(kind, &wasm, &host)),
    ];
    match lang {
        Lang::Python => files.extend([
            ("app.py", app_py(kind)),
            ("build.sh", build_sh(&world, &wasm)),
            (".gitignore", format!("/{wasm}\n__pycache__/\n")),
        ]),
        Lang::Js => files.extend([
            ("app.js", app_js(kind).replace("{VERSION}", PACKAGE_VERSION)),
            ("build.sh", build_js_sh(&world, &wasm, "")),
            ("package.json", package_json(name, &world, "")),
            (
                ".gitignore",
                format!("/{wasm}\n/node_modules/\n/aura_sdk/smol-toml/\n"),
            ),
        ]),
        Lang::Ts => files.extend([
            ("app.ts", app_ts(kind).replace("{VERSION}", PACKAGE_VERSION)),
            ("build.sh", build_js_sh(&world, &wasm, TSC_STEP)),
            (
                "package.json",
                package_json(
                    name,
                    &world,
                    &format!(",\n    \"typescript\": \"{TYPESCRIPT}\""),
                ),
            ),
            (
                "tsconfig.json",
                tsconfig().replace("{VERSION}", PACKAGE_VERSION),
            ),
            (
                ".gitignore",
                format!("/{wasm}\n/node_modules/\n/aura_sdk/smol-toml/\n/types/\n/app.js\n"),
            ),
        ]),
    }
    let write = |path: &Path, text: &str| -> Result<(), ScaffoldError> {
        let io = |source| ScaffoldError::Write {
            path: path.to_path_buf(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        std::fs::write(path, text).map_err(io)
    };
    let replays = super::scaffold_replays::files(name, kind);
    for (file, text) in files.into_iter().chain(replays) {
        write(&dir.join(file), &text)?;
    }
    super::sdks::write(lang, &dir).map_err(|source| ScaffoldError::Write {
        path: dir.join("aura_sdk"),
        source,
    })?;
    for script in ["build.sh", "test.sh"] {
        make_executable(&dir.join(script));
    }
    Ok(dir)
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755));
}

fn build_sh(world: &str, wasm: &str) -> String {
    format!(
        r#"#!/usr/bin/env bash
# Builds {wasm}: componentize-py ({COMPONENTIZE_PY}: `pip install {COMPONENTIZE_PY}`,
# or COMPONENTIZE_PY=<its path>) bundles app.py, the SDK in aura_sdk/ and CPython into a
# component of the `{world}` world of wit/. Offline once componentize-py is installed.
set -euo pipefail
cd "$(dirname "$0")"
"${{COMPONENTIZE_PY:-componentize-py}}" -d wit -w {world} componentize app -p . -o {wasm}
"#
    )
}

/// What a TypeScript plugin's build does before componentize-js: the world's types from
/// the WIT (jco), then `tsc` checks app.ts against them and writes app.js; a type error
/// stops the build with tsc's message. `build.sh --check` stops there.
const TSC_STEP: &str = r#"rm -rf types
"$modules/.bin/jco" types wit/aura-host.wit --world-name "$world" -o types > /dev/null
"$modules/.bin/tsc" -p .
if [ "${1:-}" = "--check" ]; then exit 0; fi
"#;

/// `before` runs after the packages are in place and before componentize-js (TypeScript's
/// compile step; empty for JavaScript).
fn build_js_sh(world: &str, wasm: &str, before: &str) -> String {
    let source = if before.is_empty() {
        "app.js"
    } else {
        "app.ts (compiled by tsc)"
    };
    format!(
        r#"#!/usr/bin/env bash
# Builds {wasm}: componentize-js {COMPONENTIZE_JS} bundles {source}
# and the SDK in aura_sdk/ (with smol-toml {SMOL_TOML}, its TOML parser) into a component
# of the `{world}` world of wit/, without WASI HTTP (a plugin has no network). `npm install`
# fetches the packages of package.json once; NODE_MODULES (and COMPONENTIZE_JS) point at
# ones already installed. Offline after that.
set -euo pipefail
cd "$(dirname "$0")"
world={world}
modules=${{NODE_MODULES:-node_modules}}
if [ ! -d "$modules/smol-toml" ]; then
  npm install --no-audit --no-fund --silent
fi
rm -rf aura_sdk/smol-toml && cp -r "$modules/smol-toml/dist" aura_sdk/smol-toml
{before}"${{COMPONENTIZE_JS:-$modules/.bin/componentize-js}}" --wit wit --world-name "$world" \
  --disable http fetch-event --out {wasm} app.js > /dev/null
"#
    )
}

/// `npm run types` writes the world's TypeScript types (jco) into `types/`; `extra` adds
/// devDependencies.
fn package_json(name: &str, world: &str, extra: &str) -> String {
    format!(
        "{{\n  \"name\": \"{name}\",\n  \"private\": true,\n  \"type\": \"module\",\n  \"scripts\": {{\n    \"types\": \"jco types wit/aura-host.wit --world-name {world} -o types\"\n  }},\n  \"devDependencies\": {{\n    \"@bytecodealliance/componentize-js\": \"{COMPONENTIZE_JS}\",\n    \"@bytecodealliance/jco\": \"{JCO}\",\n    \"smol-toml\": \"{SMOL_TOML}\"{extra}\n  }}\n}}\n"
    )
}

/// Strict TypeScript; the contract's interfaces (`aura:host/cache@…`) resolve to jco's
/// types, and the import names stay as written for componentize-js.
fn tsconfig() -> String {
    r#"{
  "compilerOptions": {
    "target": "es2022",
    "module": "es2022",
    "moduleResolution": "bundler",
    "strict": true,
    "noEmitOnError": true,
    "paths": { "aura:host/*@{VERSION}": ["./types/interfaces/aura-host-*.d.ts"] }
  },
  "files": ["app.ts"]
}
"#
    .into()
}

fn app_js(kind: PluginKind) -> String {
    match kind {
        PluginKind::Validator => r#"// A validator: looks at a run through the host's interfaces and returns checks with
// what was expected and what was found.

// componentize-js resolves imports by their full WIT name, version included.
import { get } from "aura:host/cache@{VERSION}";
import { config, expect, hostFailure, names } from "./aura_sdk/index.js";

export function validate(ctx) {
  const minimum = Number(config(ctx).min_requests ?? 0);
  const found = ctx.requestIds.length;
  const checks = [
    expect("enough requests", found >= minimum, `at least ${minimum}`, found, "the run has fewer requests than configured"),
  ];
  // Each request's decision, as the reference target caches it.
  for (const requestId of ctx.requestIds) {
    const name = `decision cached for ${requestId}`;
    let decision;
    try {
      decision = get(names.decisionKey(ctx.runId, requestId));
    } catch (e) {
      checks.push(hostFailure(name, "a cached decision", e));
      continue;
    }
    const cached = decision !== undefined && decision !== null;
    checks.push(expect(name, cached, "a cached decision", cached ? decision : "nothing", "the request's decision is not in the cache"));
  }
  return { checks };
}
"#
        .into(),
        PluginKind::RecoveryStrategy => r#"// A recovery strategy: decides what the orchestrator does about a failure.

import { config } from "./aura_sdk/index.js";

export function decide(ctx, failure) {
  const settings = config(ctx);
  if (failure.attempt < Number(settings.max_attempts ?? 3)) {
    return { tag: "retry", val: BigInt(settings.delay_ms ?? 250) };
  }
  return { tag: "abort", val: `${failure.operation} failed ${failure.attempt} times: ${failure.error}` };
}
"#
        .into(),
        PluginKind::ScenarioGenerator => r#"// A scenario generator: produces GPU-allocation requests, the same ones for the same seed.

export function generate(ctx, seed) {
  const requests = [0, 1, 2, 3].map((i) => ({
    requestId: `${ctx.scenario}-${i}`,
    team: "platform",
    gpuCount: 1 + Number((seed + BigInt(i)) % 4n),
    gpuModel: undefined,
    memoryGb: 40,
    priority: 5,
    durationMinutes: 60,
  }));
  return { id: ctx.scenario, name: "generated", description: `four requests from seed ${seed}`, requests };
}
"#
        .into(),
    }
}

fn app_ts(kind: PluginKind) -> String {
    match kind {
        PluginKind::Validator => r#"// A validator: looks at a run through the host's interfaces and returns checks with
// what was expected and what was found.

// componentize-js resolves imports by their full WIT name, version included.
import { get } from "aura:host/cache@{VERSION}";
import type { Check, RunContext, ValidationResult } from "./types/interfaces/aura-host-types.js";
import { config, expect, hostFailure, names } from "./aura_sdk/index.js";

export function validate(ctx: RunContext): ValidationResult {
  const minimum = Number(config(ctx).min_requests ?? 0);
  const found = ctx.requestIds.length;
  const checks: Check[] = [
    expect("enough requests", found >= minimum, `at least ${minimum}`, found, "the run has fewer requests than configured"),
  ];
  // Each request's decision, as the reference target caches it.
  for (const requestId of ctx.requestIds) {
    const name = `decision cached for ${requestId}`;
    let decision: string | undefined;
    try {
      decision = get(names.decisionKey(ctx.runId, requestId));
    } catch (e) {
      checks.push(hostFailure(name, "a cached decision", e));
      continue;
    }
    const cached = decision !== undefined;
    checks.push(expect(name, cached, "a cached decision", decision ?? "nothing", "the request's decision is not in the cache"));
  }
  return { checks };
}
"#
        .into(),
        PluginKind::RecoveryStrategy => r#"// A recovery strategy: decides what the orchestrator does about a failure.

import type { RunContext } from "./types/interfaces/aura-host-types.js";
import type { Failure, RecoveryAction } from "./types/recovery-strategy.js";
import { config } from "./aura_sdk/index.js";

export function decide(ctx: RunContext, failure: Failure): RecoveryAction {
  const settings = config(ctx);
  if (failure.attempt < Number(settings.max_attempts ?? 3)) {
    return { tag: "retry", val: BigInt(Number(settings.delay_ms ?? 250)) };
  }
  return { tag: "abort", val: `${failure.operation} failed ${failure.attempt} times: ${failure.error}` };
}
"#
        .into(),
        PluginKind::ScenarioGenerator => r#"// A scenario generator: produces GPU-allocation requests, the same ones for the same seed.

import type { RunContext } from "./types/interfaces/aura-host-types.js";
import type { GeneratedScenario, GpuRequest } from "./types/scenario-generator.js";

export function generate(ctx: RunContext, seed: bigint): GeneratedScenario {
  const requests: GpuRequest[] = [0, 1, 2, 3].map((i) => ({
    requestId: `${ctx.scenario}-${i}`,
    team: "platform",
    gpuCount: 1 + Number((seed + BigInt(i)) % 4n),
    memoryGb: 40,
    priority: 5,
    durationMinutes: 60,
  }));
  return { id: ctx.scenario, name: "generated", description: `four requests from seed ${seed}`, requests };
}
"#
        .into(),
    }
}

fn test_sh(kind: PluginKind, wasm: &str, host: &str) -> String {
    // Each case: `plugin call` arguments, then what its JSON answer must say.
    let cases = match kind {
        // No request, no host call: its cache reads are tested by the recordings.
        PluginKind::Validator => [
            ("--plugin-config 'min_requests = 0'", "passed"),
            ("--plugin-config 'min_requests = 1'", "failed"),
        ],
        PluginKind::RecoveryStrategy => [
            (
                r#"--failure '{"service":"redis","operation":"get","attempt":1,"error":"down","elapsed_ms":0}'"#,
                "retry",
            ),
            (
                r#"--failure '{"service":"redis","operation":"get","attempt":3,"error":"down","elapsed_ms":0}'"#,
                "abort",
            ),
        ],
        PluginKind::ScenarioGenerator => [("--seed 7", "four"), ("--seed 7", "four")],
    };
    let calls: String = cases
        .iter()
        .map(|(args, want)| format!("expect {want} {args}\n"))
        .collect();
    format!(
        r#"#!/usr/bin/env bash
# Builds the plugin and runs it in the real aura-host runtime (`aura-host plugin call`
# and `plugin test --replay`, AURA_HOST_BIN or the host that wrote this file), checking
# what it answers.
set -euo pipefail
cd "$(dirname "$0")"
./build.sh
host=${{AURA_HOST_BIN:-{host}}}
expect() {{
  local want=$1; shift
  answer=$("$host" plugin call {wasm} "$@")
  WANT=$want python3 -c '
import json, os, sys
a = json.loads(sys.stdin.read())
out, want = a["outcome"], os.environ["WANT"]
ok = {{
    "passed": lambda: all(c["passed"] for c in out["Ok"]["checks"]),
    "failed": lambda: not all(c["passed"] for c in out["Ok"]["checks"]),
    "retry": lambda: "Retry" in out["Ok"],
    "abort": lambda: "Abort" in out["Ok"],
    "four": lambda: len(out["Ok"]["requests"]) == 4,
}}[want]
sys.exit(0 if "Ok" in out and ok() else "expected " + want + ", got " + json.dumps(out))
' <<< "$answer"
}}
{calls}# The recordings in replays/ answer its host calls: no service needs to run. Each
# must give the result it records (an `undecided` one fails, as recorded).
for recording in replays/*.jsonl; do
  {{ "$host" plugin test {wasm} --replay "$recording" --json || true; }} | python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
sys.exit(0 if r["same"] else "replaying " + r["file"] + " gave " + json.dumps(r["replayed"]) + ", recorded " + json.dumps(r["recorded"]))
' || exit 1
done
echo "ok: {wasm} runs in aura-host as expected"
"#
    )
}

fn app_py(kind: PluginKind) -> String {
    match kind {
        PluginKind::Validator => r#""""A validator: looks at a run through the host's interfaces and returns checks with
what was expected and what was found."""

import wit_world
from componentize_py_types import Err
from wit_world.imports import cache, types

from aura_sdk import config, expect, host_failure, names


class WitWorld(wit_world.WitWorld):
    def validate(self, ctx: types.RunContext) -> types.ValidationResult:
        minimum = int(config(ctx).get("min_requests", 0))
        found = len(ctx.request_ids)
        checks = [
            expect(
                "enough requests",
                found >= minimum,
                f"at least {minimum}",
                found,
                "the run has fewer requests than configured",
            )
        ]
        # Each request's decision, as the reference target caches it.
        for request_id in ctx.request_ids:
            name = f"decision cached for {request_id}"
            try:
                decision = cache.get(names.decision_key(ctx.run_id, request_id))
            except Err as e:
                checks.append(host_failure(name, "a cached decision", e.value))
                continue
            checks.append(
                expect(
                    name,
                    decision is not None,
                    "a cached decision",
                    "nothing" if decision is None else decision,
                    "the request's decision is not in the cache",
                )
            )
        return types.ValidationResult(checks=checks)
"#
        .into(),
        PluginKind::RecoveryStrategy => r#""""A recovery strategy: decides what the orchestrator does about a failure."""

import wit_world
from wit_world import Failure, RecoveryAction, RecoveryAction_Abort, RecoveryAction_Retry
from wit_world.imports import types

from aura_sdk import config


class WitWorld(wit_world.WitWorld):
    def decide(self, ctx: types.RunContext, failure: Failure) -> RecoveryAction:
        settings = config(ctx)
        if failure.attempt < int(settings.get("max_attempts", 3)):
            return RecoveryAction_Retry(int(settings.get("delay_ms", 250)))
        return RecoveryAction_Abort(
            f"{failure.operation} failed {failure.attempt} times: {failure.error}"
        )
"#
        .into(),
        PluginKind::ScenarioGenerator => r#""""A scenario generator: produces GPU-allocation requests, the same ones for the same seed."""

import wit_world
from wit_world import GeneratedScenario, GpuRequest
from wit_world.imports import types


class WitWorld(wit_world.WitWorld):
    def generate(self, ctx: types.RunContext, seed: int) -> GeneratedScenario:
        requests = [
            GpuRequest(
                request_id=f"{ctx.scenario}-{i}",
                team="platform",
                gpu_count=1 + (seed + i) % 4,
                gpu_model=None,
                memory_gb=40,
                priority=5,
                duration_minutes=60,
            )
            for i in range(4)
        ]
        return GeneratedScenario(
            id=ctx.scenario,
            name="generated",
            description=f"four requests from seed {seed}",
            requests=requests,
        )
"#
        .into(),
    }
}
