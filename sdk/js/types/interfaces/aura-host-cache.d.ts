/** @module Interface aura:host/cache@0.2.0 **/
export function get(key: string): string | undefined;
/**
 * The values of `keys` in one round trip, in their order (`none` for a missing
 * key); at most 10000 keys. Every key must be granted: one outside the grant denies
 * the whole call, naming it. (Since 0.1.1.)
 */
export function getMany(keys: Array<string>): Array<string | undefined>;
export function exists(key: string): boolean;
export function ttl(key: string): KeyTtl;
/**
 * Keys starting with `prefix`, at most `limit` (capped by the host).
 */
export function scanPrefix(prefix: string, limit: number): Array<string>;
/**
 * The first `count` items of the list at `key` (at most 1000; the context window
 * is newest first); empty when there is no such key.
 */
export function listHead(key: string, count: number): Array<string>;
/**
 * Needs `cache.access = "write"`.
 */
export function set(key: string, value: string, ttlSeconds: bigint | undefined): void;
export type HostError = import('./aura-host-types.js').HostError;
export type KeyTtl = KeyTtlMissing | KeyTtlPersistent | KeyTtlSeconds;
/**
 * No such key.
 */
export interface KeyTtlMissing {
  tag: 'missing',
}
/**
 * The key never expires.
 */
export interface KeyTtlPersistent {
  tag: 'persistent',
}
/**
 * Seconds left before the key expires.
 */
export interface KeyTtlSeconds {
  tag: 'seconds',
  val: bigint,
}
