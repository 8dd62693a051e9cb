/** @module Interface aura:host/trace@0.2.0 **/
/**
 * The trace of `request-id` in this run; `none` if the run has none for it.
 */
export function get(requestId: string): WorkflowTrace | undefined;
export type HostError = import('./aura-host-types.js').HostError;
/**
 * # Variants
 * 
 * ## `"pending"`
 * 
 * ## `"running"`
 * 
 * ## `"completed"`
 * 
 * ## `"failed"`
 * 
 * ## `"skipped"`
 */
export type StepStatus = 'pending' | 'running' | 'completed' | 'failed' | 'skipped';
export interface TraceStep {
  stepName: string,
  component: string,
  /**
   * Milliseconds since the Unix epoch.
   */
  startTimeMs: bigint,
  endTimeMs?: bigint,
  inputData: string,
  outputData: string,
  status: StepStatus,
  errorDetails?: string,
}
export interface WorkflowTrace {
  requestId: string,
  startTimeMs: bigint,
  steps: Array<TraceStep>,
  currentStep?: string,
  completionStatus: StepStatus,
}
