// aura-host's JavaScript SDK: helpers over the bindings componentize-js makes from the
// contract (wit/aura-host.wit), the equivalent of the Rust and Python SDKs': checks with
// expected and actual, the plugin's TOML configuration, host errors in words, and the
// names of the run's keys, topics and graph labels (./names.js, generated from the
// host's own). The build step puts this package beside the plugin as ./aura_sdk/ and
// smol-toml (npm, pinned) inside it.
//
//   import { expectEq } from "./aura_sdk/index.js";
//   export function validate(ctx) {
//     return { checks: [expectEq("answer", 42, 6 * 7)] };
//   }

import { parse } from "./smol-toml/index.js";

export * as names from "./names.js";

/** A check that passes when `actual` equals `expected` (as text), both recorded. */
export function expectEq(name, expected, actual) {
  const [e, a] = [String(expected), String(actual)];
  const passed = e === a;
  return { name, passed, expected: e, actual: a, message: passed ? "" : `${name}: expected ${e}, found ${a}` };
}

/** A check from a condition, with a message for when it fails. */
export function expect(name, passed, expected, actual, message) {
  return { name, passed: Boolean(passed), expected, actual: String(actual), message: passed ? "" : message };
}

/** A host error (thrown by a host call) in words: `denied: ...`, `unavailable: ...`. */
export function reason(error) {
  const payload = error?.payload ?? error;
  if (payload && typeof payload.tag === "string") {
    return `${payload.tag}: ${payload.val}`;
  }
  return `error: ${error}`;
}

/** A failed check for a host call that went wrong, so the result says why. */
export function hostFailure(name, expected, error) {
  return expect(name, false, expected, "host error", reason(error));
}

/** The error a plugin throws for a configuration it cannot work with. */
export function configError(message) {
  return { tag: "config", val: message };
}

/** The plugin's `[config]` table as an object; throws its config error when it is not TOML. */
export function config(ctx) {
  try {
    return parse(ctx.config || "");
  } catch (e) {
    throw configError(String(e.message ?? e));
  }
}

export function passed(result) {
  return result.checks.every((c) => c.passed);
}
