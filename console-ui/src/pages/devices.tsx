/** Tenants and devices: a paged, searchable list; device detail with certificates, restriction, private mode and hold. */
import { useState } from 'preact/hooks';
import { api, enc, may, type Session } from '../api.ts';
import { ErrorBox, useLoad } from '../components.tsx';
import { DeviceDetail } from './device-detail.tsx';

export interface DeviceRow {
  deviceId: string;
  registration: { registeredAt: string; registeredBy: string; note?: string } | null;
  certificates: { serial: string; status: string; notBefore: string; notAfter: string; issuedAt: string; revokedAt: string | null }[];
  restriction: 'none' | 'drop' | 'refuse';
  privateMode: boolean;
}

const PAGE = 25;

export function DevicesPage({ session, tenant }: { session: Session; tenant: string }) {
  const [q, setQ] = useState('');
  const [offset, setOffset] = useState(0);
  const [selected, setSelected] = useState<string | undefined>(undefined);
  const list = useLoad(() => api<{ devices: DeviceRow[]; total: number }>('GET', `/v1/tenants/${enc(tenant)}/devices?offset=${offset}&limit=${PAGE}${q ? `&q=${enc(q)}` : ''}`), [tenant, offset, q]);
  const info = useLoad(() => Promise.all([
    api<{ streams: string[]; deviceGroups: Record<string, string[]>; privacyPolicy: { policyId: string; policyVersion: number } | null }>('GET', `/v1/tenants/${enc(tenant)}`),
    api<{ apps: { id: string }[] }>('GET', `/v1/tenants/${enc(tenant)}/apps`),
  ]).then(([t, a]) => ({ ...t, apps: a.apps.map((x) => x.id) })), [tenant]);
  const total = list.data?.total ?? 0;
  return (
    <section>
      <TenantSummary info={info.data} />
      {may(session.role, 'tenant-admin') && <RegisterDevice tenant={tenant} onDone={list.reload} />}
      <label for="device-search">Search devices</label>{' '}
      <input id="device-search" type="search" value={q} onInput={(e) => { setOffset(0); setQ((e.target as HTMLInputElement).value.trim()); }} />
      <ErrorBox error={list.error} />
      <table data-testid="device-list">
        <caption>{total} device{total === 1 ? '' : 's'}{total > PAGE ? `, ${offset + 1}–${Math.min(total, offset + PAGE)} shown` : ''}</caption>
        <thead><tr><th scope="col">Device</th><th scope="col">Certificates</th><th scope="col">Restriction</th><th scope="col">Private mode</th></tr></thead>
        <tbody>
          {(list.data?.devices ?? []).map((d) => (
            <tr key={d.deviceId} class={selected === d.deviceId ? 'selected' : ''}>
              <th scope="row"><button type="button" class="link" onClick={() => setSelected(d.deviceId)}>{d.deviceId}</button></th>
              <td>{d.certificates.filter((c) => c.status === 'active').length} active / {d.certificates.length}</td>
              <td>{d.restriction === 'none' ? '—' : d.restriction}</td>
              <td>{d.privateMode ? 'on' : 'off'}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <div class="pager">
        <button type="button" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>Previous page</button>
        <button type="button" disabled={offset + PAGE >= total} onClick={() => setOffset(offset + PAGE)}>Next page</button>
      </div>
      {selected && <DeviceDetail session={session} tenant={tenant} deviceId={selected} onChanged={list.reload} />}
    </section>
  );
}

function TenantSummary({ info }: { info: { streams: string[]; deviceGroups: Record<string, string[]>; apps: string[]; privacyPolicy: { policyId: string; policyVersion: number } | null } | undefined }) {
  if (!info) return null;
  return (
    <dl class="summary">
      <dt>Streams</dt><dd>{info.streams.join(', ') || '—'}</dd>
      <dt>Device groups</dt><dd>{Object.entries(info.deviceGroups).map(([g, d]) => `${g} (${d.length})`).join(', ') || '—'}</dd>
      <dt>Apps</dt><dd>{info.apps.join(', ') || '—'}</dd>
      <dt>Privacy policy</dt><dd>{info.privacyPolicy ? `${info.privacyPolicy.policyId} v${info.privacyPolicy.policyVersion}` : 'none'}</dd>
    </dl>
  );
}

function RegisterDevice({ tenant, onDone }: { tenant: string; onDone: () => void }) {
  const [id, setId] = useState('');
  const [error, setError] = useState<unknown>(undefined);
  const submit = (e: Event) => {
    e.preventDefault();
    setError(undefined);
    api('POST', `/v1/tenants/${enc(tenant)}/devices`, { deviceId: id }).then(() => { setId(''); onDone(); }, setError);
  };
  return (
    <form class="inline" onSubmit={submit}>
      <label for="register-id">Register device</label>{' '}
      <input id="register-id" value={id} onInput={(e) => setId((e.target as HTMLInputElement).value)} />
      <button type="submit">Register</button>
      <ErrorBox error={error} />
    </form>
  );
}
