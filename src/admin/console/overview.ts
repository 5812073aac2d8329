/**
 * What the console's overview draws: a snapshot of the gateway's own
 * Prometheus registry (the same numbers /metrics serves) and its readiness
 * probes, cut down to the caller's tenant for tenant-scoped callers.
 * Counters stay counters; the page derives rates from successive snapshots.
 */
import type { AdminDeps } from '../admin-deps.ts';
import type { Principal } from '../principal.ts';

type Labels = Record<string, string>;
interface Sample { readonly name: string; readonly labels: Labels; readonly value: number }

/** Parses the Prometheus text exposition format (samples only; HELP and TYPE lines are skipped). */
export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!m) continue;
    const labels: Labels = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, '$1');
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

export interface OverviewSnapshot {
  readonly at: string;
  readonly tenants: Record<string, { connections: number; deliveries: number; bytesIn: number; bytesOut: number; duplicates: number }>;
  /** Operators only: gateway-wide figures. */
  readonly gateway?: {
    readonly connectedClients: number;
    readonly messages: { stored: number; dropped: number };
    /** PUBLISH to PUBACK, all streams: sum of seconds and count (cumulative). */
    readonly puback: { sumS: number; count: number };
    readonly refusals: Record<string, number>;
    readonly sinks: Record<string, { up: boolean; pending: number }>;
    readonly keyProviderCalls: Record<string, number>;
  };
  readonly probes: Record<string, boolean>;
}

export async function overviewSnapshot(deps: AdminDeps, p: Principal): Promise<OverviewSnapshot> {
  const samples = deps.metrics ? parseExposition((await deps.metrics()).body) : [];
  const visible = p.tenantId === undefined ? deps.tenants.ids() : [p.tenantId];
  const tenants: OverviewSnapshot['tenants'] = {};
  for (const t of visible) tenants[t] = { connections: 0, deliveries: 0, bytesIn: 0, bytesOut: 0, duplicates: 0 };
  const sum = (name: string, where: (l: Labels) => boolean = () => true) =>
    samples.filter((s) => s.name === name && where(s.labels)).reduce((a, s) => a + s.value, 0);
  for (const [t, row] of Object.entries(tenants)) {
    row.connections = sum('thingiq_tenant_connections', (l) => l['tenant'] === t);
    row.deliveries = sum('thingiq_deliveries_total', (l) => l['tenant'] === t);
    row.bytesIn = sum('thingiq_mqtt_bytes_total', (l) => l['tenant'] === t && l['direction'] === 'in');
    row.bytesOut = sum('thingiq_mqtt_bytes_total', (l) => l['tenant'] === t && l['direction'] === 'out');
    row.duplicates = sum('thingiq_duplicates_total', (l) => l['tenant'] === t);
  }
  const probes = await runProbes(deps);
  if (p.role !== 'operator') return { at: new Date().toISOString(), tenants, probes };
  const byLabel = (name: string, label: string) => Object.fromEntries(samples.filter((s) => s.name === name).map((s) => [s.labels[label] ?? '', s.value]));
  const pending = byLabel('thingiq_sink_pending_records', 'sink');
  const up = byLabel('thingiq_sink_up', 'sink');
  return {
    at: new Date().toISOString(), tenants, probes,
    gateway: {
      connectedClients: sum('thingiq_connected_clients'),
      messages: { stored: sum('thingiq_messages_total', (l) => l['outcome'] === 'stored'), dropped: sum('thingiq_messages_total', (l) => l['outcome'] === 'dropped') },
      puback: { sumS: sum('thingiq_pipeline_seconds_sum'), count: sum('thingiq_pipeline_seconds_count') },
      refusals: byLabel('thingiq_refusals_total', 'code'),
      sinks: Object.fromEntries(Object.keys({ ...up, ...pending }).map((s) => [s, { up: up[s] === 1, pending: pending[s] ?? 0 }])),
      keyProviderCalls: byLabel('thingiq_data_key_provider_calls', 'call'),
    },
  };
}

async function runProbes(deps: AdminDeps): Promise<Record<string, boolean>> {
  const out: Record<string, boolean> = {};
  await Promise.all(Object.entries(deps.probes).map(async ([name, probe]) => {
    try {
      out[name] = (await probe()).ok;
    } catch {
      out[name] = false;
    }
  }));
  return out;
}
