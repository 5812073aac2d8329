/**
 * Apps of a tenant with their grants (streams, device groups, lifecycle
 * events), their certificates (generated bundle or a signed CSR), and the
 * tenant's device groups: what `thingiq tenants apps|groups` and
 * `thingiq pki issue --app` do, through the same API routes.
 */
import { useState } from 'preact/hooks';
import { api, download, enc, may, type Session } from '../api.ts';
import { ErrorBox, TypedConfirm, useAction, useLoad } from '../components.tsx';

interface AppRow { id: string; streams: string[] | null; deviceGroups: string[] | null; events?: boolean }
interface Group { id: string; devices: string[] }
interface Issued { appId: string; serial: string; certPem: string; caPem: string; keyPem?: string; notAfter: string }

/** "a, b\nc" -> ["a", "b", "c"]; empty -> undefined (the API's "all of the tenant's"). */
export function listOf(text: string): string[] | undefined {
  const items = text.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);
  return items.length ? items : undefined;
}

export function AppsPage({ session, tenant }: { session: Session; tenant: string }) {
  const t = `/v1/tenants/${enc(tenant)}`;
  const admin = may(session.role, 'tenant-admin');
  const apps = useLoad(() => api<{ apps: AppRow[] }>('GET', `${t}/apps`), [t]);
  const groups = useLoad(() => api<{ deviceGroups: Group[] }>('GET', `${t}/device-groups`), [t]);
  const [editing, setEditing] = useState<AppRow | undefined>(undefined);
  const reload = () => { apps.reload(); groups.reload(); };
  return (
    <section>
      <h2>Apps</h2>
      <ErrorBox error={apps.error} />
      <table data-testid="apps">
        <caption>Apps and their grants</caption>
        <thead><tr><th scope="col">App</th><th scope="col">Streams</th><th scope="col">Device groups</th><th scope="col">Events</th>{admin && <th scope="col">Change</th>}</tr></thead>
        <tbody>{(apps.data?.apps ?? []).map((a) => (
          <tr key={a.id}>
            <td>{a.id}</td><td>{a.streams?.join(', ') ?? '(all)'}</td><td>{a.deviceGroups?.join(', ') ?? '(all devices)'}</td><td>{a.events ? 'yes' : 'no'}</td>
            {admin && <td><button type="button" onClick={() => setEditing(a)} aria-label={`edit app ${a.id}`}>Edit</button></td>}
          </tr>
        ))}</tbody>
      </table>
      {admin && <AppForm key={editing?.id ?? ''} base={t} initial={editing} onDone={reload} />}
      {admin && <DeleteApp base={t} apps={(apps.data?.apps ?? []).map((a) => a.id)} onDone={() => { setEditing(undefined); reload(); }} />}
      {admin && <IssueAppCertificate base={t} apps={(apps.data?.apps ?? []).map((a) => a.id)} />}
      {admin && <RevokeApp base={t} apps={(apps.data?.apps ?? []).map((a) => a.id)} />}
      <h2>Device groups</h2>
      <ErrorBox error={groups.error} />
      <table data-testid="device-groups">
        <caption>Device groups</caption>
        <thead><tr><th scope="col">Group</th><th scope="col">Devices</th>{admin && <th scope="col">Change</th>}</tr></thead>
        <tbody>{(groups.data?.deviceGroups ?? []).map((g) => (
          <tr key={g.id}>
            <td>{g.id}</td><td>{g.devices.join(', ') || '(none)'}</td>
            {admin && <td><DeleteGroup base={t} group={g.id} onDone={reload} /></td>}
          </tr>
        ))}</tbody>
      </table>
      {admin && <GroupForm base={t} onDone={reload} />}
    </section>
  );
}

function AppForm({ base, initial, onDone }: { base: string; initial: AppRow | undefined; onDone: () => void }) {
  const [id, setId] = useState(initial?.id ?? '');
  const [streams, setStreams] = useState(initial?.streams?.join(', ') ?? '');
  const [groups, setGroups] = useState(initial?.deviceGroups?.join(', ') ?? '');
  const [events, setEvents] = useState(initial?.events ?? false);
  const act = useAction<{ id: string; created: boolean }>();
  const submit = (e: Event) => {
    e.preventDefault();
    void act.run(async () => {
      const s = listOf(streams), g = listOf(groups);
      const r = await api<{ id: string; created: boolean }>('PUT', `${base}/apps/${enc(id.trim())}`, { ...(s ? { streams: s } : {}), ...(g ? { deviceGroups: g } : {}), ...(events ? { events: true } : {}) });
      onDone();
      return r;
    });
  };
  return (
    <form onSubmit={submit} aria-label="create or update an app">
      <fieldset>
        <legend>{initial ? `Update app ${initial.id}` : 'Create or update an app'}</legend>
        <label for="app-id">App id</label> <input id="app-id" value={id} required onInput={(e) => setId((e.target as HTMLInputElement).value)} />
        <label for="app-streams">Granted streams (comma-separated; empty: all of the tenant's)</label>
        <input id="app-streams" value={streams} onInput={(e) => setStreams((e.target as HTMLInputElement).value)} />
        <label for="app-groups">Granted device groups (comma-separated; empty: every device)</label>
        <input id="app-groups" value={groups} onInput={(e) => setGroups((e.target as HTMLInputElement).value)} />
        <label><input type="checkbox" checked={events} onChange={(e) => setEvents((e.target as HTMLInputElement).checked)} /> Device lifecycle events</label>
        <button type="submit" disabled={act.busy}>Save app</button>
        <ErrorBox error={act.error} />
        {act.result && <p role="status">App <code>{act.result.id}</code> {act.result.created ? 'created' : 'updated'}.</p>}
      </fieldset>
    </form>
  );
}

function DeleteApp({ base, apps, onDone }: { base: string; apps: string[]; onDone: () => void }) {
  const [app, setApp] = useState('');
  const del = useAction<{ deleted: string }>();
  return (
    <fieldset>
      <legend>Delete an app</legend>
      <label for="delete-app">App</label>{' '}
      <select id="delete-app" value={app} onChange={(e) => { del.reset(); setApp((e.target as HTMLSelectElement).value); }}>
        <option value="">(choose)</option>
        {apps.map((a) => <option key={a} value={a}>{a}</option>)}
      </select>
      {app && (
        <TypedConfirm word={app} label="Delete app" busy={del.busy} onConfirm={() => void del.run(async () => { const r = await api<{ deleted: string }>('DELETE', `${base}/apps/${enc(app)}`); setApp(''); onDone(); return r; })}>
          <p>The app loses its grant at once; its certificates stay valid until revoked but reach nothing.</p>
        </TypedConfirm>
      )}
      <ErrorBox error={del.error} />
      {del.result && <p role="status">Deleted app <code>{del.result.deleted}</code>.</p>}
    </fieldset>
  );
}

function IssueAppCertificate({ base, apps }: { base: string; apps: string[] }) {
  const [app, setApp] = useState('');
  const [keyType, setKeyType] = useState<'ec' | 'rsa'>('ec');
  const [csr, setCsr] = useState('');
  const issue = useAction<Issued>();
  const run = () => issue.run(async () => {
    const r = await api<Issued>('POST', `${base}/apps/${enc(app)}/certificates`, csr.trim() ? { csr: csr.trim() } : { keyType });
    const bundle = [`# ThingIQ app ${r.appId}, serial ${r.serial}, valid until ${r.notAfter}`, r.certPem.trim(), r.caPem.trim(), ...(r.keyPem ? [r.keyPem.trim()] : [])].join('\n');
    download(`${r.appId}-${r.serial}.pem`, `${bundle}\n`, 'application/x-pem-file');
    return r;
  });
  return (
    <fieldset>
      <legend>Issue an app certificate</legend>
      <label for="cert-app">App</label>{' '}
      <select id="cert-app" value={app} onChange={(e) => { issue.reset(); setApp((e.target as HTMLSelectElement).value); }}>
        <option value="">(choose)</option>
        {apps.map((a) => <option key={a} value={a}>{a}</option>)}
      </select>{' '}
      <label for="cert-key-type">Key type (generated key)</label>{' '}
      <select id="cert-key-type" value={keyType} disabled={csr.trim() !== ''} onChange={(e) => setKeyType((e.target as HTMLSelectElement).value as 'ec' | 'rsa')}>
        <option value="ec">EC P-256</option><option value="rsa">RSA 2048</option>
      </select>
      <label for="app-csr">PEM certificate signing request (optional: without one the gateway generates the key, shown only in the download)</label>
      <textarea id="app-csr" rows={4} value={csr} onInput={(e) => setCsr((e.target as HTMLTextAreaElement).value)} />
      <button type="button" disabled={issue.busy || !app} onClick={() => void run()}>{csr.trim() ? 'Sign app CSR' : 'Issue app bundle'}</button>
      <ErrorBox error={issue.error} />
      {issue.result && <p role="status">Issued serial <code data-testid="app-serial">{issue.result.serial}</code> for {issue.result.appId}; the {issue.result.keyPem ? 'bundle' : 'certificate'} was downloaded.</p>}
    </fieldset>
  );
}

function RevokeApp({ base, apps }: { base: string; apps: string[] }) {
  const [app, setApp] = useState('');
  const revoke = useAction<{ revoked: string[] }>();
  return (
    <fieldset>
      <legend>Revoke an app's certificates</legend>
      <label for="revoke-app">App</label>{' '}
      <select id="revoke-app" value={app} onChange={(e) => { revoke.reset(); setApp((e.target as HTMLSelectElement).value); }}>
        <option value="">(choose)</option>
        {apps.map((a) => <option key={a} value={a}>{a}</option>)}
      </select>
      {app && (
        <TypedConfirm word={app} label="Revoke the app's certificates" busy={revoke.busy} onConfirm={() => void revoke.run(() => api<{ revoked: string[] }>('POST', `${base}/apps/${enc(app)}/revoke`, {}))}>
          <p>Every certificate of the app is revoked; the gateway refuses its connections from now on.</p>
        </TypedConfirm>
      )}
      <ErrorBox error={revoke.error} />
      {revoke.result && <p role="status" data-testid="app-revoked">Revoked {revoke.result.revoked.length} certificate(s).</p>}
    </fieldset>
  );
}

function GroupForm({ base, onDone }: { base: string; onDone: () => void }) {
  const [id, setId] = useState('');
  const [devices, setDevices] = useState('');
  const act = useAction<{ id: string; devices: string[]; created: boolean }>();
  const submit = (e: Event) => {
    e.preventDefault();
    void act.run(async () => {
      const r = await api<{ id: string; devices: string[]; created: boolean }>('PUT', `${base}/device-groups/${enc(id.trim())}`, { devices: listOf(devices) ?? [] });
      onDone();
      return r;
    });
  };
  return (
    <form onSubmit={submit} aria-label="create or update a device group">
      <fieldset>
        <legend>Create or replace a device group</legend>
        <label for="group-id">Group id</label> <input id="group-id" value={id} required onInput={(e) => setId((e.target as HTMLInputElement).value)} />
        <label for="group-devices">Member devices (comma- or line-separated; replaces the members)</label>
        <textarea id="group-devices" rows={3} value={devices} onInput={(e) => setDevices((e.target as HTMLTextAreaElement).value)} />
        <button type="submit" disabled={act.busy}>Save group</button>
        <ErrorBox error={act.error} />
        {act.result && <p role="status">Group <code>{act.result.id}</code> {act.result.created ? 'created' : 'replaced'} with {act.result.devices.length} device(s).</p>}
      </fieldset>
    </form>
  );
}

function DeleteGroup({ base, group, onDone }: { base: string; group: string; onDone: () => void }) {
  const del = useAction<unknown>();
  return (
    <>
      <button type="button" class="danger" disabled={del.busy} aria-label={`delete device group ${group}`}
        onClick={() => void del.run(async () => { const r = await api('DELETE', `${base}/device-groups/${enc(group)}`); onDone(); return r; })}>Delete</button>
      <ErrorBox error={del.error} />
    </>
  );
}
