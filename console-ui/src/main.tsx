/**
 * The console shell: signs in (one-time link or OAuth), holds the session,
 * and shows one page at a time by the URL fragment (#/overview, #/devices...).
 */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, call, useSession, type Session } from './api.ts';
import { ErrorBox } from './components.tsx';
import { AppsPage } from './pages/apps.tsx';
import { AuditPage } from './pages/audit.tsx';
import { DevicesPage } from './pages/devices.tsx';
import { FleetPage } from './pages/fleet.tsx';
import { KeysPage } from './pages/keys.tsx';
import { OperationsPage } from './pages/operations.tsx';
import { OverviewPage } from './pages/overview.tsx';
import { PrivacyPage } from './pages/privacy.tsx';
import { SignIn } from './pages/sign-in.tsx';
import { SubjectsPage } from './pages/subjects.tsx';
import './style.css';

const PAGES = [
  { id: 'overview', title: 'Overview', operatorOnly: false },
  { id: 'devices', title: 'Tenants and devices', operatorOnly: false },
  { id: 'apps', title: 'Apps and device groups', operatorOnly: false },
  { id: 'fleet', title: 'Provisioning and records', operatorOnly: false },
  { id: 'privacy', title: 'Privacy', operatorOnly: false },
  { id: 'keys', title: 'Keys and retention', operatorOnly: false },
  { id: 'subjects', title: 'Data-subject requests', operatorOnly: false },
  { id: 'audit', title: 'Audit', operatorOnly: true },
  { id: 'operations', title: 'Backups and sweeps', operatorOnly: true },
] as const;

function route(): string {
  const m = /^#\/([a-z]+)/.exec(location.hash);
  return m?.[1] ?? 'overview';
}

/** Reads and clears a sign-in parameter from the fragment (#link=..., #signin-error=...). */
function fragmentParam(name: string): string | undefined {
  const m = new RegExp(`^#${name}=([A-Za-z0-9_-]+)$`).exec(location.hash);
  if (!m) return undefined;
  history.replaceState(null, '', `${location.pathname}#/overview`);
  return m[1];
}

function App() {
  const [session, setSession] = useState<Session | undefined>(undefined);
  const [checked, setChecked] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const [page, setPage] = useState(route());
  const [tenant, setTenant] = useState<string>('');

  const signedOut = (code: string) => { setSession(undefined); setError(new ApiError(401, code, 'the session ended: sign in again')); };
  useSession(session, signedOut);

  useEffect(() => {
    const onHash = () => setPage(route());
    addEventListener('hashchange', onHash);
    const link = fragmentParam('link');
    const failed = fragmentParam('signin-error');
    const start = link
      ? api<Session>('POST', '/console/auth/link', { code: link })
      : api<Session>('GET', '/console/auth/session');
    start.then((s) => setSession(s), (e: unknown) => {
      if (link || failed) setError(failed ? new ApiError(401, failed, 'the sign-in did not succeed') : e);
    }).finally(() => setChecked(true));
    return () => removeEventListener('hashchange', onHash);
  }, []);

  useEffect(() => {
    if (!session) return;
    if (session.tenant) { setTenant(session.tenant); return; }
    api<{ tenants: { id: string }[] }>('GET', '/v1/tenants').then((r) => setTenant((t) => t || r.tenants[0]?.id || ''), setError);
  }, [session]);

  if (!checked) return <p class="loading">Loading…</p>;
  if (!session) return <SignIn error={error} />;
  const signOut = () => call('POST', '/console/auth/sign-out').then(() => { setSession(undefined); setError(undefined); }, setError);
  const visible = PAGES.filter((p) => !p.operatorOnly || session.role === 'operator');
  const current = visible.find((p) => p.id === page) ?? visible[0]!;
  const props = { session, tenant };
  return (
    <div class="shell">
      <button type="button" class="skip" onClick={() => document.getElementById('main')?.focus()}>Skip to content</button>
      <header>
        <span class="brand">ThingIQ console</span>
        <TenantPicker session={session} tenant={tenant} onChange={setTenant} />
        <span class="who" data-testid="who">{session.actor} · {session.role}</span>
        <button type="button" onClick={signOut}>Sign out</button>
      </header>
      <nav aria-label="pages">
        <ul>{visible.map((p) => <li key={p.id}><a href={`#/${p.id}`} aria-current={p.id === current.id ? 'page' : undefined}>{p.title}</a></li>)}</ul>
      </nav>
      <main id="main" tabIndex={-1}>
        <h1>{current.title}</h1>
        <ErrorBox error={error} />
        {current.id === 'overview' && <OverviewPage {...props} />}
        {current.id === 'devices' && tenant && <DevicesPage {...props} />}
        {current.id === 'apps' && tenant && <AppsPage {...props} />}
        {current.id === 'fleet' && tenant && <FleetPage {...props} />}
        {current.id === 'privacy' && tenant && <PrivacyPage {...props} />}
        {current.id === 'keys' && tenant && <KeysPage {...props} />}
        {current.id === 'subjects' && tenant && <SubjectsPage {...props} />}
        {current.id === 'audit' && <AuditPage />}
        {current.id === 'operations' && <OperationsPage />}
      </main>
    </div>
  );
}

function TenantPicker({ session, tenant, onChange }: { session: Session; tenant: string; onChange: (t: string) => void }) {
  const [ids, setIds] = useState<string[]>([]);
  useEffect(() => {
    api<{ tenants: { id: string }[] }>('GET', '/v1/tenants').then((r) => setIds(r.tenants.map((t) => t.id)), () => setIds([]));
  }, [session]);
  return (
    <label class="tenant">Tenant{' '}
      <select value={tenant} onChange={(e) => onChange((e.target as HTMLSelectElement).value)} disabled={session.tenant !== null}>
        {ids.map((id) => <option key={id} value={id}>{id}</option>)}
      </select>
    </label>
  );
}

render(<App />, document.getElementById('app')!);
