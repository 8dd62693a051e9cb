// The JavaScript SDK's types, for plugins written in TypeScript (`aura-host plugin new
// --lang ts`). The contract's own types come from jco's output for the WIT, which a
// plugin's build writes into ../types/ (in this repository: sdk/js/types/).

import type {
  Check,
  PluginError,
  RunContext,
  ValidationResult,
} from "../types/interfaces/aura-host-types.js";

export * as names from "./names.js";

/** A check that passes when `actual` equals `expected` (as text), both recorded. */
export declare function expectEq(name: string, expected: unknown, actual: unknown): Check;

/** A check from a condition, with a message for when it fails. */
export declare function expect(
  name: string,
  passed: unknown,
  expected: string,
  actual: unknown,
  message: string,
): Check;

/** A host error (thrown by a host call) in words: `denied: ...`, `unavailable: ...`. */
export declare function reason(error: unknown): string;

/** A failed check for a host call that went wrong, so the result says why. */
export declare function hostFailure(name: string, expected: string, error: unknown): Check;

/** The error a plugin throws for a configuration it cannot work with. */
export declare function configError(message: string): PluginError;

/** The plugin's `[config]` table as an object; throws its config error when it is not TOML. */
export declare function config(ctx: RunContext): Record<string, unknown>;

/** Whether every check of a result passed. */
export declare function passed(result: ValidationResult): boolean;
