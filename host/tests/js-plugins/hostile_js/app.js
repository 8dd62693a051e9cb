// hostile_js: what a JavaScript validator might do to its host, by `mode` in its config:
// `loop` spins forever, `memory-bomb` allocates without end, `fetch` tries to reach
// Redis over HTTP (its check passes when the sandbox refuses), `well-behaved` passes.

import { config, configError, expect, expectEq } from "./aura_sdk/index.js";

function tryFetch() {
  let outcome;
  try {
    if (typeof fetch !== "function") {
      outcome = "refused (no fetch)";
    } else {
      fetch("http://127.0.0.1:16379/");
      outcome = "sent";
    }
  } catch (e) {
    outcome = `refused (${e?.name ?? e})`;
  }
  return expect("fetch", outcome.startsWith("refused"), "refused", outcome, "the plugin reached the network");
}

export function validate(ctx) {
  const mode = config(ctx).mode ?? "well-behaved";
  if (mode === "loop") {
    for (;;) {}
  }
  if (mode === "memory-bomb") {
    const blocks = [];
    for (;;) {
      blocks.push(new Uint8Array(16 << 20).fill(1));
    }
  }
  if (mode === "fetch") {
    return { checks: [tryFetch()] };
  }
  if (mode === "well-behaved") {
    return { checks: [expectEq("well-behaved", "ok", "ok")] };
  }
  throw configError(`unknown mode ${mode}; expected loop, memory-bomb, fetch, well-behaved`);
}
