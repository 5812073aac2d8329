/**
 * Gateway-wide jobs of an operator: an encrypted backup (`POST /v1/backups`,
 * downloaded and checked against the digest the gateway sent) and the
 * retention sweep (`POST /v1/retention/sweep`) with its totals (and per
 * sink, where the answer lists them).
 * The API has no list of backups (the gateway removes its copy once sent),
 * so the page shows the backups taken in this tab.
 */
import { useState } from 'preact/hooks';
import { call, api } from '../api.ts';
import { ErrorBox, useAction, useLoad } from '../components.tsx';

interface Backup { file: string; bytes: number; sha256: string; verified: boolean; at: string }
interface Sweep { deleted: number; partitionsDropped: number; sinks?: Record<string, { deleted: number; partitionsDropped?: number }> }

function hex(buf: ArrayBuffer): string {
  return [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

function saveBlob(name: string, blob: Blob): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

async function takeBackup(): Promise<Backup> {
  const res = await call('POST', '/v1/backups');
  const blob = await res.blob();
  const sha256 = res.headers.get('x-thingiq-backup-sha256') ?? '';
  const digest = hex(await crypto.subtle.digest('SHA-256', await blob.arrayBuffer()));
  const at = new Date().toISOString();
  const file = `thingiq-${at.replace(/[-:.]/g, '')}.tiqbak`;
  saveBlob(file, blob);
  return { file, bytes: blob.size, sha256, verified: digest === sha256, at };
}

interface SweeperStatus {
  intervalMs: number | null;
  lastSweep: { at: string; durationMs: number; ok: boolean; deleted: number; partitionsDropped: number; code?: string } | null;
  nextSweepAt: string | null;
}

/** `GET /v1/retention/sweeper`: the schedule and the last sweep this gateway ran. */
function SweeperStatusView({ status }: { status: SweeperStatus | undefined }) {
  if (!status) return null;
  const last = status.lastSweep;
  return (
    <p data-testid="sweeper-status">
      Sweeper: every {status.intervalMs ? `${Math.round(status.intervalMs / 60_000)} min` : '(not scheduled)'};{' '}
      {last
        ? <>last sweep {last.at} {last.ok ? `deleted ${last.deleted} record(s), dropped ${last.partitionsDropped} partition(s)` : `FAILED (${last.code ?? 'unknown'})`} in {last.durationMs} ms{status.nextSweepAt ? `; next about ${status.nextSweepAt}` : ''}.</>
        : 'no sweep since the gateway started.'}
    </p>
  );
}

export function OperationsPage() {
  const [backups, setBackups] = useState<Backup[]>([]);
  const backup = useAction<Backup>();
  const sweep = useAction<Sweep>();
  const sweeper = useLoad(() => api<SweeperStatus>('GET', '/v1/retention/sweeper'), []);
  return (
    <section>
      <h2>Backups</h2>
      <p>A backup holds every tenant's data, encrypted; the gateway streams it here and keeps no copy.</p>
      <button type="button" disabled={backup.busy} onClick={() => void backup.run(async () => { const b = await takeBackup(); setBackups((l) => [b, ...l]); return b; })}>Create a backup</button>
      {backup.busy && <p role="status">Writing the backup…</p>}
      <ErrorBox error={backup.error} />
      <table data-testid="backups">
        <caption>Backups taken in this session</caption>
        <thead><tr><th scope="col">File</th><th scope="col">Taken</th><th scope="col">Bytes</th><th scope="col">SHA-256</th><th scope="col">Digest check</th></tr></thead>
        <tbody>{backups.map((b) => <tr key={b.file}><td>{b.file}</td><td>{b.at}</td><td>{b.bytes}</td><td><code>{b.sha256}</code></td><td>{b.verified ? 'matches' : 'MISMATCH'}</td></tr>)}</tbody>
      </table>
      <h2>Retention sweep</h2>
      <p>The sweeper runs on its schedule; this runs it now. Records under a legal hold are never deleted.</p>
      <SweeperStatusView status={sweeper.data} />
      <ErrorBox error={sweeper.error} />
      <button type="button" disabled={sweep.busy} onClick={() => void sweep.run(async () => { const r = await api<Sweep>('POST', '/v1/retention/sweep'); sweeper.reload(); return r; })}>Sweep expired records now</button>
      {sweep.busy && <p role="status">Sweeping…</p>}
      <ErrorBox error={sweep.error} />
      {sweep.result && (
        <table data-testid="sweep-result" role="status">
          <caption>Last sweep: {sweep.result.deleted} record(s) deleted, {sweep.result.partitionsDropped} partition(s) dropped</caption>
          <thead><tr><th scope="col">Sink</th><th scope="col">Deleted</th><th scope="col">Partitions dropped</th></tr></thead>
          <tbody>{Object.entries(sweep.result.sinks ?? {}).map(([name, s]) => <tr key={name}><td>{name}</td><td>{s.deleted}</td><td>{s.partitionsDropped ?? 0}</td></tr>)}</tbody>
        </table>
      )}
    </section>
  );
}
