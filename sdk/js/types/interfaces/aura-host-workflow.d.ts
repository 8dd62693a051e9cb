/** @module Interface aura:host/workflow@0.2.0 **/
export function describe(workflowId: string): Execution;
/**
 * `describe` for several workflows at once (the host reads them concurrently), in
 * their order, each with its own result; at most 10000 ids. Every id must be
 * granted: one outside the grant denies the whole call, naming it. (Since 0.1.1.)
 */
export function describeMany(workflowIds: Array<string>): Array<Result<Execution, HostError>>;
export type HostError = import('./aura-host-types.js').HostError;
/**
 * # Variants
 * 
 * ## `"running"`
 * 
 * ## `"completed"`
 * 
 * ## `"failed"`
 * 
 * ## `"canceled"`
 * 
 * ## `"terminated"`
 * 
 * ## `"continued-as-new"`
 * 
 * ## `"timed-out"`
 * 
 * ## `"unknown"`
 */
export type ExecutionStatus = 'running' | 'completed' | 'failed' | 'canceled' | 'terminated' | 'continued-as-new' | 'timed-out' | 'unknown';
export interface ActivitySummary {
  activityType: string,
  /**
   * Attempts started, retries included.
   */
  attempts: number,
  failures: number,
  lastFailure?: string,
}
export interface Execution {
  workflowId: string,
  status: ExecutionStatus,
  /**
   * The workflow's result payload as JSON, once completed.
   */
  output?: string,
  historyLength: number,
  activities: Array<ActivitySummary>,
}
export type Result<T, E> = { tag: 'ok', val: T } | { tag: 'err', val: E };
