/** @module Interface aura:host/gpu@0.2.0 **/
export function inventory(): Array<Device>;
export function probe(index: number): ProbeResult;
export type HostError = import('./aura-host-types.js').HostError;
export interface Device {
  index: number,
  name: string,
  memoryMib: bigint,
  /**
   * Where the facts come from: "nvml" or "declared".
   */
  source: string,
}
export interface ProbeResult {
  index: number,
  usable: boolean,
  /**
   * Kernel round trip in microseconds, when usable.
   */
  micros?: bigint,
  detail: string,
}
