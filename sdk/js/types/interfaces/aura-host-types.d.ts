/** @module Interface aura:host/types@0.2.0 **/
/**
 * The steps of the reference GPU-allocation workflow, in the order it runs them.
 * (Since 0.2.0.)
 * # Variants
 * 
 * ## `"validate-request"`
 * 
 * ## `"load-context"`
 * 
 * ## `"council-vote"`
 * 
 * ## `"allocate-devices"`
 * 
 * ## `"persist-decision"`
 * 
 * ## `"cache-context"`
 * 
 * ## `"publish-decision"`
 */
export type Step = 'validate-request' | 'load-context' | 'council-vote' | 'allocate-devices' | 'persist-decision' | 'cache-context' | 'publish-decision';
/**
 * A fault of the scenario's chaos plan (its `[[faults]]`). (Since 0.2.0.)
 */
export interface FaultFact {
  /**
   * What it does: kill, pause, restart, latency, partition... (docs/chaos.md).
   */
  action: string,
  /**
   * The service it strikes: redis, graph, kafka, temporal; none when it strikes
   * no service (exhaust-gpus).
   */
  service?: string,
  /**
   * The step whose start (or end) fires it, when a step does.
   */
  atStep?: Step,
  /**
   * The request whose step fires it, when one request's does.
   */
  requestId?: string,
  /**
   * How long it holds, in milliseconds, when it holds.
   */
  durationMs?: bigint,
}
/**
 * The load a load scenario runs under (its `[load]`). (Since 0.2.0.)
 */
export interface LoadFacts {
  /**
   * "open" (arrivals at a rate, in stages) or "closed" (virtual users).
   */
  model: string,
  /**
   * Open model: the highest arrival rate of its stages, per second.
   */
  peakRate?: number,
  /**
   * Open model: requests in flight at most; an arrival over it is dropped.
   */
  maxInFlight: number,
  /**
   * Closed model: the virtual users.
   */
  virtualUsers?: number,
  /**
   * Requests per validator call: decided requests are checked in batches.
   */
  validateBatch: number,
}
/**
 * The run a plugin is called for.
 */
export interface RunContext {
  /**
   * Run id: 1-64 of [a-z0-9-]; every piece of data the run wrote carries it.
   */
  runId: string,
  /**
   * Scenario id being validated.
   */
  scenario: string,
  /**
   * Request ids of the scenario (the requests a validator looks at).
   */
  requestIds: Array<string>,
  /**
   * The plugin's own configuration from the manifest, as TOML text.
   */
  config: string,
  /**
   * The faults the scenario injects; empty when it injects none. (Since 0.2.0.)
   */
  faults: Array<FaultFact>,
  /**
   * The load it runs under, when it is a load scenario. (Since 0.2.0.)
   */
  load?: LoadFacts,
}
/**
 * Why a host call did not succeed.
 */
export type HostError = HostErrorDenied | HostErrorUnavailable | HostErrorInvalid | HostErrorTimeout;
/**
 * Outside the plugin's grant; the text names the manifest line that grants it.
 */
export interface HostErrorDenied {
  tag: 'denied',
  val: string,
}
/**
 * The service behind the interface failed or could not be reached.
 */
export interface HostErrorUnavailable {
  tag: 'unavailable',
  val: string,
}
/**
 * The arguments were rejected (malformed query, bad key, too large).
 */
export interface HostErrorInvalid {
  tag: 'invalid',
  val: string,
}
/**
 * The plugin's deadline ran out while the host was waiting on the service.
 */
export interface HostErrorTimeout {
  tag: 'timeout',
  val: string,
}
/**
 * Why a plugin could not produce its result at all.
 */
export type PluginError = PluginErrorConfig | PluginErrorHost | PluginErrorInternal;
/**
 * The plugin's configuration is missing or malformed.
 */
export interface PluginErrorConfig {
  tag: 'config',
  val: string,
}
/**
 * A host call failed and the plugin cannot go on without it.
 */
export interface PluginErrorHost {
  tag: 'host',
  val: HostError,
}
/**
 * Anything else, in the plugin's words.
 */
export interface PluginErrorInternal {
  tag: 'internal',
  val: string,
}
/**
 * One check of a validation, with what was expected and what was found.
 */
export interface Check {
  name: string,
  passed: boolean,
  expected: string,
  actual: string,
  message: string,
}
export interface ValidationResult {
  checks: Array<Check>,
}
