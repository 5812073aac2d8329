/** Data-subject requests per device: access (download), erasure (receipt), restriction, objection; past requests. */
import { useState } from 'preact/hooks';
import { api, call, download, enc, may, type Session } from '../api.ts';
import { ErrorBox, TypedConfirm, useAction, useLoad } from '../components.tsx';

export function SubjectsPage({ session, tenant }: { session: Session; tenant: string }) {
  const [device, setDevice] = useState('');
  const admin = may(session.role, 'tenant-admin');
  return (
    <section>
      <label for="subject-device">Device (the data subject's device)</label>{' '}
      <input id="subject-device" value={device} onInput={(e) => setDevice((e.target as HTMLInputElement).value.trim())} />
      {device && <SubjectActions key={`${tenant}/${device}`} session={session} tenant={tenant} device={device} admin={admin} />}
      {session.role === 'operator' && <PastRequests tenant={tenant} />}
    </section>
  );
}

function SubjectActions({ tenant, device, admin }: { session: Session; tenant: string; device: string; admin: boolean }) {
  const base = `/v1/tenants/${enc(tenant)}/devices/${enc(device)}`;
  const objections = useLoad(() => api<{ objections: { purpose: string; timeMs: number; reason?: string }[] }>('GET', `${base}/objections`), [base]);
  const act = useAction<unknown>();
  const erase = useAction<Record<string, unknown>>();
  const [purpose, setPurpose] = useState('');
  const [confirming, setConfirming] = useState(false);
  return (
    <div>
      <ErrorBox error={objections.error} />
      {admin && (
        <div class="actions">
          <button type="button" onClick={() => void act.run(async () => {
            const res = await call('GET', `${base}/data`);
            download(`${tenant}-${device}.ndjson`, await res.text(), 'application/x-ndjson');
            return `${res.headers.get('x-thingiq-record-count') ?? '?'} records downloaded`;
          })}>Access: download the device's data</button>
          <button type="button" onClick={() => void act.run(() => api('PUT', `${base}/restriction`, { mode: 'drop', reason: 'data-subject request' }))}>Restrict processing</button>
          <button type="button" class="danger" onClick={() => setConfirming(true)}>Erase…</button>
        </div>
      )}
      {confirming && (
        <TypedConfirm word={device} label="Erase the device's data" busy={erase.busy} onConfirm={() => void erase.run(async () => { const r = await api<Record<string, unknown>>('POST', `${base}/erasure`, {}); setConfirming(false); return r; })}>
          <p>Deletes every stored record of the device and destroys its keys. A legal hold refuses it.</p>
        </TypedConfirm>
      )}
      <ErrorBox error={act.error ?? erase.error} />
      {typeof act.result === 'string' && <p role="status">{act.result}</p>}
      {erase.result && (
        <div role="status" data-testid="erasure-receipt">
          <p>Erased: receipt <code>{String(erase.result['receiptId'])}</code>, {String(erase.result['recordsDeleted'])} records deleted, {String(erase.result['keysDestroyed'])} keys destroyed.</p>
          <button type="button" onClick={() => download(`erasure-receipt-${String(erase.result!['receiptId'])}.json`, JSON.stringify(erase.result, null, 2))}>Download the receipt</button>
        </div>
      )}
      <table>
        <caption>Objections (GDPR Art. 21)</caption>
        <tbody>{(objections.data?.objections ?? []).map((o) => <tr key={o.purpose}><td>{o.purpose}</td><td>{new Date(o.timeMs).toISOString()}</td><td>{o.reason ?? ''}</td></tr>)}</tbody>
      </table>
      {admin && (
        <form class="inline" onSubmit={(e) => { e.preventDefault(); void act.run(async () => { const r = await api('POST', `${base}/objections`, { purpose }); objections.reload(); return r; }); }}>
          <label for="objection-purpose">Object to purpose</label> <input id="objection-purpose" value={purpose} onInput={(e) => setPurpose((e.target as HTMLInputElement).value.trim())} />
          <button type="submit">Record objection</button>
        </form>
      )}
    </div>
  );
}

/** Past requests as the audit log has them (operators: the log spans tenants). */
function PastRequests({ tenant }: { tenant: string }) {
  const actions = ['subjects.access', 'subjects.erasure', 'subjects.objection', 'devices.restriction.set'];
  const past = useLoad(() => Promise.all(actions.map((a) => api<{ entries: Record<string, unknown>[] }>('GET', `/v1/audit?tenant=${enc(tenant)}&action=${enc(a)}&limit=50`)))
    .then((r) => r.flatMap((x) => x.entries).sort((a, b) => Number(b['seq']) - Number(a['seq']))), [tenant]);
  return (
    <table>
      <caption>Past requests (audit log)</caption>
      <thead><tr><th scope="col">Time</th><th scope="col">Action</th><th scope="col">Subject</th><th scope="col">By</th><th scope="col">Result</th></tr></thead>
      <tbody>{(past.data ?? []).map((e) => <tr key={String(e['seq'])}><td>{String(e['time'] ?? '')}</td><td>{String(e['action'])}</td><td>{String(e['target'])}</td><td>{String(e['actor'])}</td><td>{String(e['result'])} {String(e['detail'] ?? '')}</td></tr>)}</tbody>
    </table>
  );
}
