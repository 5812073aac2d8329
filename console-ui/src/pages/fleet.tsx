/**
 * Provisioning claims (`thingiq provisioning claim create|list|revoke`) and
 * the tenant's stored records (`thingiq records replay`, the export of a
 * tenant's records through the replay API), through the same API routes.
 */
import { useState } from 'preact/hooks';
import { api, call, download, enc, may, type Session } from '../api.ts';
import { ErrorBox, TypedConfirm, useAction, useLoad } from '../components.tsx';

interface ClaimRow {
  claimId: string; deviceIdPattern: string; deviceGroup: string | null; maxDevices: number; used: number;
  status: string; expiresAt: string; serial: string; createdBy: string; revokedAt: string | null;
}
interface CreatedClaim extends ClaimRow { certPem: string; caPem: string; keyPem?: string }

export function FleetPage({ session, tenant }: { session: Session; tenant: string }) {
  const t = `/v1/tenants/${enc(tenant)}`;
  const admin = may(session.role, 'tenant-admin');
  const claims = useLoad(() => api<{ claims: ClaimRow[] }>('GET', `${t}/provisioning/claims`), [t]);
  return (
    <section>
      <h2>Provisioning claims</h2>
      <p>A claim lets devices of a production run obtain their own certificates within its template; it cannot connect or call anything else.</p>
      <ErrorBox error={claims.error} />
      <table data-testid="claims">
        <caption>Claims of the tenant</caption>
        <thead><tr><th scope="col">Claim</th><th scope="col">Device ids</th><th scope="col">Group</th><th scope="col">Used</th><th scope="col">Expires</th><th scope="col">Status</th></tr></thead>
        <tbody>{(claims.data?.claims ?? []).map((c) => (
          <tr key={c.claimId}><td>{c.claimId}</td><td><code>{c.deviceIdPattern}</code></td><td>{c.deviceGroup ?? '-'}</td><td>{c.used} / {c.maxDevices}</td><td>{c.expiresAt}</td><td>{c.status}</td></tr>
        ))}</tbody>
      </table>
      {admin && <CreateClaim base={t} onDone={claims.reload} />}
      {admin && <RevokeClaim base={t} claims={(claims.data?.claims ?? []).filter((c) => c.status === 'active').map((c) => c.claimId)} onDone={claims.reload} />}
      <h2>Stored records</h2>
      <ExportRecords base={t} tenant={tenant} />
    </section>
  );
}

function CreateClaim({ base, onDone }: { base: string; onDone: () => void }) {
  const [claimId, setClaimId] = useState('');
  const [pattern, setPattern] = useState('');
  const [group, setGroup] = useState('');
  const [max, setMax] = useState('100');
  const [days, setDays] = useState('30');
  const act = useAction<CreatedClaim>();
  const submit = (e: Event) => {
    e.preventDefault();
    void act.run(async () => {
      const r = await api<CreatedClaim>('POST', `${base}/provisioning/claims`, {
        claimId: claimId.trim(), deviceIdPattern: pattern.trim(), maxDevices: Number(max), validDays: Number(days),
        ...(group.trim() ? { deviceGroup: group.trim() } : {}),
      });
      // The claim's key is generated once and never kept by the gateway: the bundle is the only copy.
      download(`${r.claimId}.claim.pem`, [r.certPem, r.keyPem ?? '', r.caPem].join(''), 'application/x-pem-file');
      onDone();
      return r;
    });
  };
  return (
    <form onSubmit={submit} aria-label="create a provisioning claim">
      <fieldset>
        <legend>Create a claim</legend>
        <label for="claim-id">Claim id</label> <input id="claim-id" value={claimId} required onInput={(e) => setClaimId((e.target as HTMLInputElement).value)} />
        <label for="claim-pattern">Device id pattern (a-z, 0-9, -, * and ?)</label> <input id="claim-pattern" value={pattern} required onInput={(e) => setPattern((e.target as HTMLInputElement).value)} />
        <label for="claim-group">Device group (optional)</label> <input id="claim-group" value={group} onInput={(e) => setGroup((e.target as HTMLInputElement).value)} />
        <label for="claim-max">How many devices</label> <input id="claim-max" type="number" min={1} value={max} onInput={(e) => setMax((e.target as HTMLInputElement).value)} />
        <label for="claim-days">Valid for days</label> <input id="claim-days" type="number" min={1} value={days} onInput={(e) => setDays((e.target as HTMLInputElement).value)} />
        <button type="submit" disabled={act.busy}>Create the claim and download its bundle</button>
        <ErrorBox error={act.error} />
        {act.result && <p role="status" data-testid="claim-created">Claim <code>{act.result.claimId}</code> created (serial {act.result.serial}); its bundle was downloaded.</p>}
      </fieldset>
    </form>
  );
}

function RevokeClaim({ base, claims, onDone }: { base: string; claims: string[]; onDone: () => void }) {
  const [claim, setClaim] = useState('');
  const revoke = useAction<{ claimId: string; revokedAt: string }>();
  return (
    <fieldset>
      <legend>Revoke a claim</legend>
      <label for="revoke-claim">Claim</label>{' '}
      <select id="revoke-claim" value={claim} onChange={(e) => { revoke.reset(); setClaim((e.target as HTMLSelectElement).value); }}>
        <option value="">(choose)</option>
        {claims.map((c) => <option key={c} value={c}>{c}</option>)}
      </select>
      {claim && (
        <TypedConfirm word={claim} label="Revoke the claim" busy={revoke.busy}
          onConfirm={() => void revoke.run(async () => { const r = await api<{ claimId: string; revokedAt: string }>('POST', `${base}/provisioning/claims/${enc(claim)}/revoke`, {}); onDone(); return r; })}>
          <p>Devices that have registered keep their certificates; no new device can register with this claim.</p>
        </TypedConfirm>
      )}
      <ErrorBox error={revoke.error} />
      {revoke.result && <p role="status" data-testid="claim-revoked">Claim <code>{revoke.result.claimId}</code> revoked at {revoke.result.revokedAt}.</p>}
    </fieldset>
  );
}

interface Exported { lines: number; file: string }

/** Pages through `GET /v1/tenants/{t}/records` (the replay API) from a time and downloads the NDJSON: one audited read per page. */
function ExportRecords({ base, tenant }: { base: string; tenant: string }) {
  const [from, setFrom] = useState('');
  const act = useAction<Exported>();
  const run = () => act.run(async () => {
    const parts: string[] = [];
    let query = from.trim() ? `from=${enc(from.trim())}` : '';
    for (let page = 0; page < 1000; page++) {
      const res = await call('GET', `${base}/records?${query}${query ? '&' : ''}limit=1000`);
      const lines = (await res.text()).split('\n').filter(Boolean);
      const end = JSON.parse(lines.pop() ?? '{}') as { type?: string; nextCursor?: string; more?: boolean };
      parts.push(...lines);
      if (end.type !== 'end' || !end.more || !end.nextCursor) break;
      query = `cursor=${enc(end.nextCursor)}`;
    }
    const file = `${tenant}-records.ndjson`;
    download(file, parts.length ? `${parts.join('\n')}\n` : '', 'application/x-ndjson');
    return { lines: parts.length, file };
  });
  return (
    <fieldset>
      <legend>Export the tenant's stored records (NDJSON)</legend>
      <p>Decrypted as stored (after the privacy policy), within your grants; restricted devices are left out. Each page read is audited.</p>
      <label for="records-from">From (ISO 8601 time, optional: from the first record)</label>{' '}
      <input id="records-from" value={from} onInput={(e) => setFrom((e.target as HTMLInputElement).value)} />{' '}
      <button type="button" disabled={act.busy} onClick={() => void run()}>Export records</button>
      {act.busy && <p role="status">Reading records…</p>}
      <ErrorBox error={act.error} />
      {act.result && <p role="status" data-testid="records-exported">{act.result.lines} record(s) exported to {act.result.file}.</p>}
    </fieldset>
  );
}
