/** Live figures from the API's server-sent events: charts of the last minutes, tables of the latest snapshot. */
import { useEffect, useState } from 'preact/hooks';
import type { Session } from '../api.ts';
import { Chart, ErrorBox, fmt } from '../components.tsx';

interface Snapshot {
  at: string;
  tenants: Record<string, { connections: number; deliveries: number; bytesIn: number; bytesOut: number; duplicates: number }>;
  gateway?: {
    connectedClients: number;
    messages: { stored: number; dropped: number };
    puback: { sumS: number; count: number };
    refusals: Record<string, number>;
    sinks: Record<string, { up: boolean; pending: number }>;
    keyProviderCalls: Record<string, number>;
  };
  probes: Record<string, boolean>;
}

const KEEP = 90;

/** Per-second rate between two cumulative counters. */
function rate(a: number, b: number, dtS: number): number {
  return dtS > 0 ? Math.max(0, b - a) / dtS : 0;
}

export function OverviewPage({ session }: { session: Session; tenant: string }) {
  const [history, setHistory] = useState<Snapshot[]>([]);
  const [error, setError] = useState<unknown>(undefined);
  useEffect(() => {
    const source = new EventSource('/v1/overview/stream');
    source.addEventListener('snapshot', (e) => {
      setError(undefined);
      setHistory((h) => [...h.slice(-(KEEP - 1)), JSON.parse((e as MessageEvent<string>).data) as Snapshot]);
    });
    source.onerror = () => setError(new Error('live updates interrupted; retrying'));
    return () => source.close();
  }, [session]);
  const last = history.at(-1);
  const pairs = history.slice(1).map((s, i) => ({ a: history[i]!, b: s, dt: (Date.parse(s.at) - Date.parse(history[i]!.at)) / 1000 }));
  const tenantIds = Object.keys(last?.tenants ?? {});
  const connections = history.map((s) => Object.values(s.tenants).reduce((n, t) => n + t.connections, 0));
  const deliveries = pairs.map(({ a, b, dt }) => rate(sumOf(a, 'deliveries'), sumOf(b, 'deliveries'), dt));
  const g = last?.gateway;
  return (
    <section aria-live="polite" data-testid="overview">
      {error !== undefined && <ErrorBox error={error} />}
      {!last && <p>Waiting for the first figures…</p>}
      <div class="charts">
        <Chart title="Connections" values={connections} unit="" />
        <Chart title="Deliveries to apps" values={deliveries} unit="/s" />
        {g && <Chart title="Messages stored" values={pairs.map(({ a, b, dt }) => rate(a.gateway!.messages.stored, b.gateway!.messages.stored, dt))} unit="/s" />}
        {g && <Chart title="PUBLISH to PUBACK" values={pairs.map(({ a, b }) => pubackMs(a, b))} unit="ms" />}
        {g && <Chart title="Refusals" values={pairs.map(({ a, b, dt }) => rate(total(a.gateway!.refusals), total(b.gateway!.refusals), dt))} unit="/s" />}
      </div>
      {last && (
        <table>
          <caption>Per tenant</caption>
          <thead><tr><th scope="col">Tenant</th><th scope="col">Connections</th><th scope="col">Deliveries</th><th scope="col">Bytes in</th><th scope="col">Bytes out</th><th scope="col">Duplicates</th></tr></thead>
          <tbody>{tenantIds.map((t) => { const r = last.tenants[t]!; return <tr key={t}><th scope="row">{t}</th><td>{r.connections}</td><td>{r.deliveries}</td><td>{r.bytesIn}</td><td>{r.bytesOut}</td><td>{r.duplicates}</td></tr>; })}</tbody>
        </table>
      )}
      {g && (
        <div class="columns">
          <table><caption>Refusals by code</caption><tbody>
            {Object.entries(g.refusals).map(([code, n]) => <tr key={code}><th scope="row"><code>{code}</code></th><td>{n}</td></tr>)}
            {Object.keys(g.refusals).length === 0 && <tr><td>none</td></tr>}
          </tbody></table>
          <table><caption>Sinks</caption><tbody>
            {Object.entries(g.sinks).map(([s, h]) => <tr key={s}><th scope="row">{s}</th><td class={h.up ? 'ok' : 'bad'}>{h.up ? 'up' : 'DOWN'}</td><td>backlog {h.pending}</td></tr>)}
          </tbody></table>
          <table><caption>Key provider</caption><tbody>
            <tr><th scope="row">health</th><td class={last.probes['keys'] ? 'ok' : 'bad'}>{last.probes['keys'] ? 'ok' : 'failing'}</td></tr>
            {Object.entries(g.keyProviderCalls).map(([c, n]) => <tr key={c}><th scope="row">{c} calls</th><td>{n}</td></tr>)}
          </tbody></table>
        </div>
      )}
      {last && <p class="probes">Readiness: {Object.entries(last.probes).map(([p, ok]) => <span key={p} class={ok ? 'ok' : 'bad'}>{p} {ok ? 'ok' : 'failing'} </span>)}</p>}
    </section>
  );
}

function sumOf(s: Snapshot, k: 'deliveries' | 'connections'): number {
  return Object.values(s.tenants).reduce((n, t) => n + t[k], 0);
}

function total(r: Record<string, number>): number {
  return Object.values(r).reduce((a, b) => a + b, 0);
}

/** Mean PUBLISH-to-PUBACK time of the messages between two snapshots, in ms. */
function pubackMs(a: Snapshot, b: Snapshot): number {
  const n = b.gateway!.puback.count - a.gateway!.puback.count;
  return n > 0 ? Number(fmt(((b.gateway!.puback.sumS - a.gateway!.puback.sumS) / n) * 1000)) : 0;
}
