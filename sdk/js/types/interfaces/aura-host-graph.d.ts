/** @module Interface aura:host/graph@0.2.0 **/
/**
 * Runs a read-only query; the database itself refuses writes in it.
 */
export function query(cypher: string, params: Array<[string, Value]>): ResultSet;
/**
 * Runs a query that may write; needs `graph = "write"`.
 */
export function execute(cypher: string, params: Array<[string, Value]>): ResultSet;
export type HostError = import('./aura-host-types.js').HostError;
/**
 * A value in or out of a query. Lists, maps, nodes and relationships come back as
 * JSON text so that the record stays flat.
 */
export type Value = ValueNull | ValueBoolean | ValueInteger | ValueFloat | ValueText | ValueJson;
export interface ValueNull {
  tag: 'null',
}
export interface ValueBoolean {
  tag: 'boolean',
  val: boolean,
}
export interface ValueInteger {
  tag: 'integer',
  val: bigint,
}
export interface ValueFloat {
  tag: 'float',
  val: number,
}
export interface ValueText {
  tag: 'text',
  val: string,
}
export interface ValueJson {
  tag: 'json',
  val: string,
}
export interface ResultSet {
  columns: Array<string>,
  rows: Array<Array<Value>>,
}
