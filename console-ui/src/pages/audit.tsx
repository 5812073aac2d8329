/** The audit log: filter, page (by sequence number), verify the hash chain. */
import { useState } from 'preact/hooks';
import { api, enc } from '../api.ts';
import { ErrorBox, useAction, useLoad } from '../components.tsx';

type Entry = Record<string, unknown> & { seq: number };
const LIMIT = 50;

export function AuditPage() {
  const [filter, setFilter] = useState({ tenant: '', action: '', actor: '' });
  const [after, setAfter] = useState<number[]>([0]);
  const from = after.at(-1)!;
  const q = Object.entries(filter).filter(([, v]) => v).map(([k, v]) => `&${k}=${enc(v)}`).join('');
  const page = useLoad(() => api<{ entries: Entry[] }>('GET', `/v1/audit?limit=${LIMIT}&afterSeq=${from}${q}`), [from, q]);
  const verify = useAction<Record<string, unknown>>();
  const set = (k: keyof typeof filter) => (e: Event) => { setAfter([0]); setFilter({ ...filter, [k]: (e.target as HTMLInputElement).value.trim() }); };
  const entries = page.data?.entries ?? [];
  return (
    <section>
      <form class="inline" onSubmit={(e) => e.preventDefault()} aria-label="filter the audit log">
        <label for="audit-tenant">Tenant</label> <input id="audit-tenant" value={filter.tenant} onInput={set('tenant')} />
        <label for="audit-action">Action</label> <input id="audit-action" value={filter.action} onInput={set('action')} />
        <label for="audit-actor">Actor</label> <input id="audit-actor" value={filter.actor} onInput={set('actor')} />
      </form>
      <button type="button" disabled={verify.busy} onClick={() => void verify.run(() => api('GET', '/v1/audit/verify'))}>Verify the chain</button>
      <ErrorBox error={verify.error ?? page.error} />
      {verify.result && <p role="status" data-testid="audit-verify" class={verify.result['ok'] ? 'ok' : 'bad'}>{verify.result['ok'] ? `Chain intact (${String(verify.result['entries'] ?? '')} entries).` : `Chain broken: ${JSON.stringify(verify.result)}`}</p>}
      <table data-testid="audit-entries">
        <thead><tr><th scope="col">#</th><th scope="col">Time</th><th scope="col">Actor</th><th scope="col">Role</th><th scope="col">Action</th><th scope="col">Target</th><th scope="col">Result</th><th scope="col">Detail</th></tr></thead>
        <tbody>{entries.map((e) => <tr key={e.seq}><td>{e.seq}</td><td>{String(e['time'] ?? '')}</td><td>{String(e['actor'])}</td><td>{String(e['role'])}</td><td>{String(e['action'])}</td><td>{String(e['target'])}</td><td>{String(e['result'])}</td><td>{String(e['detail'] ?? '')}</td></tr>)}</tbody>
      </table>
      <div class="pager">
        <button type="button" disabled={after.length === 1} onClick={() => setAfter(after.slice(0, -1))}>Previous page</button>
        <button type="button" disabled={entries.length < LIMIT} onClick={() => setAfter([...after, entries.at(-1)!.seq])}>Next page</button>
      </div>
    </section>
  );
}
