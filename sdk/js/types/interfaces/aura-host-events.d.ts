/** @module Interface aura:host/events@0.2.0 **/
/**
 * Messages of `topic` from the beginning, only those with `key` when given, at most
 * `max-count`, waiting at most `timeout-ms` (bounded by the plugin's deadline).
 */
export function read(topic: string, key: string | undefined, maxCount: number, timeoutMs: number): Array<Event>;
/**
 * The newest messages of `topic`: at most `max-count`, read from the last
 * `max-count` of each partition (only those with `key` when given). Without a key
 * it returns once it has read to the end it saw when it began; with one, at
 * `max-count` matches or after `timeout-ms`. What a batch of recent requests needs
 * from a long topic, without reading it all. (Since 0.1.2.)
 */
export function readLatest(topic: string, key: string | undefined, maxCount: number, timeoutMs: number): Array<Event>;
/**
 * Needs `events.access = "write"`.
 */
export function publish(topic: string, key: string, payload: string): void;
export type HostError = import('./aura-host-types.js').HostError;
export interface Event {
  topic: string,
  partition: number,
  offset: bigint,
  key?: string,
  payload: string,
  headers: Array<[string, string]>,
}
