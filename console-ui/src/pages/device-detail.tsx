/** One device: certificates (issue, sign a CSR, revoke with confirmation), restriction, private mode, legal hold. */
import { useState } from 'preact/hooks';
import { api, download, enc, may, type Session } from '../api.ts';
import { ErrorBox, TypedConfirm, useAction, useLoad } from '../components.tsx';
import type { DeviceRow } from './devices.tsx';

interface Issued { serial: string; certPem: string; caPem: string; keyPem?: string; notAfter: string }

export function DeviceDetail({ session, tenant, deviceId, onChanged }: { session: Session; tenant: string; deviceId: string; onChanged: () => void }) {
  const base = `/v1/tenants/${enc(tenant)}/devices/${enc(deviceId)}`;
  const row = useLoad(() => api<{ devices: DeviceRow[] }>('GET', `/v1/tenants/${enc(tenant)}/devices?q=${enc(deviceId)}`).then((r) => r.devices.find((d) => d.deviceId === deviceId)), [tenant, deviceId]);
  const restriction = useLoad(() => api<{ mode?: string; reason?: string }>('GET', `${base}/restriction`), [base]);
  const priv = useLoad(() => api<{ on: boolean }>('GET', `${base}/private-mode`), [base]);
  const retention = useLoad(() => api<{ holds: { deviceId: string; held: boolean }[] }>('GET', `/v1/tenants/${enc(tenant)}/retention`), [tenant]);
  const admin = may(session.role, 'tenant-admin');
  const refresh = () => { row.reload(); restriction.reload(); priv.reload(); retention.reload(); onChanged(); };
  const held = retention.data?.holds.some((h) => h.deviceId === deviceId && h.held) ?? false;
  const certs = row.data?.certificates ?? [];
  return (
    <section class="detail" aria-labelledby="device-title" data-testid="device-detail">
      <h2 id="device-title">Device {deviceId}</h2>
      <ErrorBox error={row.error ?? restriction.error ?? priv.error} />
      <dl class="summary">
        <dt>Registered</dt><dd>{row.data?.registration ? `${row.data.registration.registeredAt} by ${row.data.registration.registeredBy}` : '—'}</dd>
        <dt>Last certificate issued</dt><dd>{certs.at(-1)?.issuedAt ?? '—'}</dd>
        <dt>Restriction</dt><dd data-testid="restriction">{restriction.data?.mode ?? 'none'}</dd>
        <dt>Private mode</dt><dd>{priv.data?.on ? 'on' : 'off'}</dd>
        <dt>Legal hold</dt><dd>{held ? 'held' : 'none'}</dd>
      </dl>
      <table data-testid="certificates">
        <caption>Certificates</caption>
        <thead><tr><th scope="col">Serial</th><th scope="col">Status</th><th scope="col">Valid until</th><th scope="col">Revoked</th></tr></thead>
        <tbody>{certs.map((c) => <tr key={c.serial}><td><code>{c.serial}</code></td><td>{c.status}</td><td>{c.notAfter}</td><td>{c.revokedAt ?? '—'}</td></tr>)}</tbody>
      </table>
      {admin && <IssueCertificate base={base} deviceId={deviceId} onDone={refresh} />}
      {admin && certs.length > 0 && <Revoke base={base} deviceId={deviceId} active={certs.some((c) => c.status === 'active')} onDone={refresh} />}
      {admin && <DeviceSwitches base={base} restriction={restriction.data?.mode ?? 'none'} privateMode={priv.data?.on ?? false} onDone={refresh} />}
      {session.role === 'operator' && <Hold tenant={tenant} deviceId={deviceId} held={held} onDone={refresh} />}
    </section>
  );
}

function IssueCertificate({ base, deviceId, onDone }: { base: string; deviceId: string; onDone: () => void }) {
  const [csr, setCsr] = useState('');
  const issue = useAction<Issued>();
  const run = () => issue.run(async () => {
    const r = await api<Issued>('POST', `${base}/certificates`, csr.trim() ? { csr: csr.trim() } : {});
    const bundle = [`# ThingIQ device ${deviceId}, serial ${r.serial}, valid until ${r.notAfter}`, r.certPem.trim(), r.caPem.trim(), ...(r.keyPem ? [r.keyPem.trim()] : [])].join('\n');
    download(`${deviceId}-${r.serial}.pem`, `${bundle}\n`, 'application/x-pem-file');
    onDone();
    return r;
  });
  return (
    <fieldset>
      <legend>Issue a certificate</legend>
      <label for="csr">PEM certificate signing request (optional: without one the gateway generates the key, shown only in the download)</label>
      <textarea id="csr" rows={4} value={csr} onInput={(e) => setCsr((e.target as HTMLTextAreaElement).value)} />
      <button type="button" disabled={issue.busy} onClick={() => void run()}>{csr.trim() ? 'Sign CSR' : 'Issue and download bundle'}</button>
      <ErrorBox error={issue.error} />
      {issue.result && <p role="status">Issued serial <code data-testid="issued-serial">{issue.result.serial}</code>; the bundle was downloaded.</p>}
    </fieldset>
  );
}

function Revoke({ base, deviceId, active, onDone }: { base: string; deviceId: string; active: boolean; onDone: () => void }) {
  const [open, setOpen] = useState(false);
  const revoke = useAction<{ revoked?: string[] }>();
  return (
    <fieldset>
      <legend>Revoke</legend>
      {!open && active && <button type="button" class="danger" onClick={() => setOpen(true)}>Revoke certificates…</button>}
      {!active && !revoke.result && <p>No active certificate.</p>}
      {open && (
        <TypedConfirm word={deviceId} label="Revoke every certificate" busy={revoke.busy} onConfirm={() => void revoke.run(async () => {
          const r = await api<{ revoked?: string[] }>('POST', `${base}/revoke`, {});
          setOpen(false);
          onDone();
          return r;
        })}>
          <p>The gateway closes the device's live MQTT sessions at once and refuses its reconnects.</p>
        </TypedConfirm>
      )}
      <ErrorBox error={revoke.error} />
      {revoke.result && <p role="status" data-testid="revoked">Revoked {revoke.result.revoked?.length ?? 0} certificate(s); live sessions were closed.</p>}
    </fieldset>
  );
}

function DeviceSwitches({ base, restriction, privateMode, onDone }: { base: string; restriction: string; privateMode: boolean; onDone: () => void }) {
  const act = useAction<unknown>();
  return (
    <fieldset>
      <legend>Processing</legend>
      <label for="restriction-mode">Restriction (GDPR Art. 18)</label>{' '}
      <select id="restriction-mode" value={restriction} onChange={(e) => void act.run(async () => { await api('PUT', `${base}/restriction`, { mode: (e.target as HTMLSelectElement).value }); onDone(); return 1; })}>
        <option value="none">none</option><option value="drop">drop (acknowledge, keep nothing)</option><option value="refuse">refuse (disconnect)</option>
      </select>{' '}
      <button type="button" onClick={() => void act.run(async () => { await api('PUT', `${base}/private-mode`, { on: !privateMode }); onDone(); return 1; })}>
        Turn private mode {privateMode ? 'off' : 'on'}
      </button>
      <ErrorBox error={act.error} />
    </fieldset>
  );
}

function Hold({ tenant, deviceId, held, onDone }: { tenant: string; deviceId: string; held: boolean; onDone: () => void }) {
  const act = useAction<unknown>();
  return (
    <fieldset>
      <legend>Legal hold</legend>
      <button type="button" onClick={() => void act.run(async () => { await api('PUT', `/v1/tenants/${enc(tenant)}/legal-holds`, { deviceId, held: !held }); onDone(); return 1; })}>
        {held ? 'Release the hold' : 'Place a legal hold'}
      </button>
      <ErrorBox error={act.error} />
    </fieldset>
  );
}
