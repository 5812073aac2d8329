/**
 * A cluster node's id: the configured `cluster.nodeId`, or one made from
 * the host name and the process id (unique among the live processes of a
 * machine), with `-w{i}` for the i-th worker of `thingiq start --workers N`.
 * Ids match the same pattern as tenant and device ids.
 */
import { hostname } from 'node:os';

const MAX_BASE = 50;

export function clusterNodeId(configured: string | undefined, worker?: number, host = hostname(), pid = process.pid): string {
  const base = configured ?? `${slug(host)}-${pid}`;
  return worker === undefined ? base : `${base.slice(0, MAX_BASE + 8)}-w${worker}`;
}

function slug(host: string): string {
  const s = host.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^[^a-z0-9]+/, '').slice(0, MAX_BASE).replace(/-+$/, '');
  return s === '' ? 'node' : s;
}
