/** Keys (status, rotate, rewrap, shred with typed confirmation and receipt) and retention (rules, holds, sweep). */
import { useState } from 'preact/hooks';
import { api, download, enc, may, type Session } from '../api.ts';
import { ErrorBox, TypedConfirm, useAction, useLoad } from '../components.tsx';

interface Retention {
  rules: { stream: string; deviceGroup: string; retentionClass: string; days: number; changedAtMs: number }[];
  holds: { deviceId: string; held: boolean; changedAtMs: number }[];
}

export function KeysPage({ session, tenant }: { session: Session; tenant: string }) {
  const t = `/v1/tenants/${enc(tenant)}`;
  const admin = may(session.role, 'tenant-admin');
  const status = useLoad(() => (admin ? api('GET', `${t}/keys`) : Promise.resolve(undefined)), [t, admin]);
  const retention = useLoad(() => api<Retention>('GET', `${t}/retention`), [t]);
  const act = useAction<unknown>();
  return (
    <section>
      <h2>Keys</h2>
      {!admin && <p>Key status needs the tenant-admin role.</p>}
      <ErrorBox error={status.error} />
      {status.data !== undefined && <pre class="json" data-testid="key-status">{JSON.stringify(status.data, null, 2)}</pre>}
      {admin && (
        <div class="actions">
          <button type="button" disabled={act.busy} onClick={() => void act.run(async () => { const r = await api('POST', `${t}/keys/rotate`); status.reload(); return r; })}>Rotate the tenant key</button>
        </div>
      )}
      {act.busy && <p role="status">Working…</p>}
      <ErrorBox error={act.error} />
      {act.result !== undefined && <pre class="json" role="status">{JSON.stringify(act.result, null, 2)}</pre>}
      {admin && <Rewrap base={t} onDone={status.reload} />}
      {session.role === 'operator' && <Shred tenant={tenant} />}
      <h2>Retention</h2>
      <ErrorBox error={retention.error} />
      <table>
        <caption>Rules</caption>
        <thead><tr><th scope="col">Stream</th><th scope="col">Device group</th><th scope="col">Class</th><th scope="col">Days</th></tr></thead>
        <tbody>{(retention.data?.rules ?? []).map((r) => <tr key={`${r.stream}/${r.deviceGroup}`}><td>{r.stream}</td><td>{r.deviceGroup || '(all)'}</td><td>{r.retentionClass}</td><td>{r.days}</td></tr>)}</tbody>
      </table>
      {admin && <RuleForm tenant={tenant} onDone={retention.reload} />}
      <table>
        <caption>Legal holds</caption>
        <tbody>{(retention.data?.holds ?? []).filter((h) => h.held).map((h) => <tr key={h.deviceId}><td>{h.deviceId || '(whole tenant)'}</td><td>since {new Date(h.changedAtMs).toISOString()}</td></tr>)}</tbody>
      </table>
      {session.role === 'operator' && (
        <button type="button" disabled={act.busy} onClick={() => void act.run(() => api('POST', '/v1/retention/sweep'))}>Sweep expired records now</button>
      )}
    </section>
  );
}

function Shred({ tenant }: { tenant: string }) {
  const [device, setDevice] = useState('');
  const shred = useAction<{ receiptId: string; destroyedCount: number; destroyedDekIds: string[] }>();
  return (
    <fieldset>
      <legend>Crypto-shred a device's data keys</legend>
      <label for="shred-device">Device</label>{' '}
      <input id="shred-device" value={device} onInput={(e) => { shred.reset(); setDevice((e.target as HTMLInputElement).value.trim()); }} />
      {device && (
        <TypedConfirm word={device} label="Shred keys" busy={shred.busy} onConfirm={() => void shred.run(() => api('POST', `/v1/tenants/${enc(tenant)}/devices/${enc(device)}/keys/shred`))}>
          <p>Irreversible: the device's stored records can no longer be decrypted, here or in any backup.</p>
        </TypedConfirm>
      )}
      <ErrorBox error={shred.error} />
      {shred.result && (
        <div role="status" data-testid="shred-receipt">
          <p>Receipt <code>{shred.result.receiptId}</code>: {shred.result.destroyedCount} data key(s) destroyed.</p>
          <button type="button" onClick={() => download(`shred-receipt-${shred.result!.receiptId}.json`, JSON.stringify(shred.result, null, 2))}>Download the receipt</button>
        </div>
      )}
    </fieldset>
  );
}

function RuleForm({ tenant, onDone }: { tenant: string; onDone: () => void }) {
  const [stream, setStream] = useState('');
  const [days, setDays] = useState('30');
  const [group, setGroup] = useState('');
  const act = useAction<unknown>();
  const submit = (e: Event) => {
    e.preventDefault();
    void act.run(async () => {
      const r = await api('PUT', `/v1/tenants/${enc(tenant)}/retention/rules`, { stream, days: Number(days), ...(group ? { deviceGroup: group } : {}) });
      onDone();
      return r;
    });
  };
  return (
    <form class="inline" onSubmit={submit} aria-label="set a retention rule">
      <label for="rule-stream">Stream</label> <input id="rule-stream" value={stream} onInput={(e) => setStream((e.target as HTMLInputElement).value)} />
      <label for="rule-group">Device group (optional)</label> <input id="rule-group" value={group} onInput={(e) => setGroup((e.target as HTMLInputElement).value)} />
      <label for="rule-days">Days</label> <input id="rule-days" type="number" min={1} value={days} onInput={(e) => setDays((e.target as HTMLInputElement).value)} />
      <button type="submit">Set rule</button>
      <ErrorBox error={act.error} />
    </form>
  );
}

interface RewrapProgress { primaryKekRef: string; scanned: number; rewrapped: number; skipped: number; cursor?: string; deviceKeksRewrapped?: number; done: boolean }

/** Data keys per request: the page asks slice after slice and shows the running totals. */
const REWRAP_SLICE = 200;

/** `keys rewrap [--after <dekId>] [--all]`, in slices of REWRAP_SLICE keys with the progress shown; the cursor resumes an interrupted run. */
function Rewrap({ base, onDone }: { base: string; onDone: () => void }) {
  const [after, setAfter] = useState('');
  const [all, setAll] = useState(false);
  const [progress, setProgress] = useState<RewrapProgress | undefined>(undefined);
  const act = useAction<RewrapProgress>();
  const run = () => act.run(async () => {
    let cursor = after.trim() || undefined;
    let total: RewrapProgress | undefined;
    setProgress(undefined);
    for (;;) {
      const r = await api<RewrapProgress>('POST', `${base}/keys/rewrap`, { ...(cursor ? { afterDekId: cursor } : {}), ...(all ? { all: true } : {}), limit: REWRAP_SLICE });
      total = total
        ? { ...r, scanned: total.scanned + r.scanned, rewrapped: total.rewrapped + r.rewrapped, skipped: total.skipped + r.skipped, deviceKeksRewrapped: total.deviceKeksRewrapped ?? r.deviceKeksRewrapped }
        : r;
      setProgress(total);
      if (r.done || r.cursor === undefined || r.cursor === cursor) break;
      cursor = r.cursor;
    }
    onDone();
    return total;
  });
  return (
    <fieldset>
      <legend>Re-wrap data keys under the primary key</legend>
      <label for="rewrap-after">Resume after data key id (optional: the cursor of an interrupted run)</label>{' '}
      <input id="rewrap-after" value={after} onInput={(e) => setAfter((e.target as HTMLInputElement).value)} />{' '}
      <label><input type="checkbox" checked={all} onChange={(e) => setAll((e.target as HTMLInputElement).checked)} /> Also those already under the primary reference (after a KMS-side rotation)</label>{' '}
      <button type="button" disabled={act.busy} onClick={() => void run()}>Re-wrap data keys</button>
      {act.busy && <p role="status" data-testid="rewrap-progress">Re-wrapping… {progress ? `${progress.scanned} data keys scanned, ${progress.rewrapped} re-wrapped so far` : ''}</p>}
      <ErrorBox error={act.error} />
      {act.result && (
        <p role="status" data-testid="rewrap-result">
          Scanned {act.result.scanned}, re-wrapped {act.result.rewrapped}, skipped {act.result.skipped}
          {act.result.deviceKeksRewrapped !== undefined ? `, device keys re-wrapped ${act.result.deviceKeksRewrapped}` : ''}; primary <code>{act.result.primaryKekRef}</code>; cursor <code>{act.result.cursor ?? '-'}</code>.
        </p>
      )}
    </fieldset>
  );
}
