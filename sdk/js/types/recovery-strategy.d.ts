// world aura:host/recovery-strategy@0.2.0
export type RunContext = import('./interfaces/aura-host-types.js').RunContext;
export type PluginError = import('./interfaces/aura-host-types.js').PluginError;
export interface Failure {
  /**
  * The service or step that failed: "redis", "kafka", "workflow", ...
  */
  service: string,
  operation: string,
  /**
  * 1 for the first failure of this operation.
  */
  attempt: number,
  error: string,
  /**
  * Time since the operation first started.
  */
  elapsedMs: bigint,
}
export type RecoveryAction = RecoveryActionRetry | RecoveryActionSkip | RecoveryActionDegrade | RecoveryActionAbort;
/**
* Try again after this many milliseconds.
*/
export interface RecoveryActionRetry {
  tag: 'retry',
  val: bigint,
}
/**
* Give up on this step and carry on with the rest.
*/
export interface RecoveryActionSkip {
  tag: 'skip',
}
/**
* Carry on in a degraded mode; the text says how.
*/
export interface RecoveryActionDegrade {
  tag: 'degrade',
  val: string,
}
/**
* Stop the run; the text says why.
*/
export interface RecoveryActionAbort {
  tag: 'abort',
  val: string,
}
export type * as AuraHostCache020 from './interfaces/aura-host-cache.js'; // import aura:host/cache@0.2.0
export type * as AuraHostEvents020 from './interfaces/aura-host-events.js'; // import aura:host/events@0.2.0
export type * as AuraHostGpu020 from './interfaces/aura-host-gpu.js'; // import aura:host/gpu@0.2.0
export type * as AuraHostGraph020 from './interfaces/aura-host-graph.js'; // import aura:host/graph@0.2.0
export type * as AuraHostLog020 from './interfaces/aura-host-log.js'; // import aura:host/log@0.2.0
export type * as AuraHostTrace020 from './interfaces/aura-host-trace.js'; // import aura:host/trace@0.2.0
export type * as AuraHostTypes020 from './interfaces/aura-host-types.js'; // import aura:host/types@0.2.0
export type * as AuraHostWorkflow020 from './interfaces/aura-host-workflow.js'; // import aura:host/workflow@0.2.0
export function decide(ctx: RunContext, failure: Failure): RecoveryAction;
