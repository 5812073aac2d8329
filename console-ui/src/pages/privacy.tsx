/**
 * The tenant's privacy policy as YAML: validated as you type by the API (the
 * validator of `thingiq policy check`), previewed on a trace before and after,
 * and published as the next version (effective on the next message).
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { parse, stringify } from 'yaml';
import { api, ApiError, enc, may, type Session } from '../api.ts';
import { ErrorBox, useAction, useLoad } from '../components.tsx';
import { TraceMap, type LatLon, type Zone } from './map.tsx';

interface Policy { policyId?: string; version?: number; zones?: Zone[]; defaults?: Record<string, { action?: string; coarsen?: { method?: string; cellM?: number } }> }
interface PreviewRow { index: number; before?: { latitude?: number; longitude?: number }; after: { latitude?: number; longitude?: number } | null; applied: { locationAction?: string }; dropReason: string | null }

/** A sample drive (used until a trace is pasted): 40 points heading east, a minute apart, around the policy's first zone if it has one. */
function sampleTrace(policy: Policy | undefined): Record<string, unknown>[] {
  const c = policy?.zones?.[0]?.center ?? policy?.zones?.[0]?.ring?.[0] ?? { lat: 52.52, lon: 13.405 };
  const t0 = Date.UTC(2026, 0, 5, 9, 0, 0);
  return Array.from({ length: 40 }, (_, i) => ({ latitude: c.lat - 0.004 + i * 0.0002, longitude: c.lon - 0.02 + i * 0.001, timeUnixMs: t0 + i * 60_000, speedMps: 12.3, headingDeg: 87 }));
}

function parseYaml(text: string): { policy?: unknown; error?: ApiError } {
  try {
    return { policy: parse(text) as unknown };
  } catch (e) {
    return { error: new ApiError(0, 'YAML_SYNTAX', (e as Error).message) };
  }
}

export function PrivacyPage({ session, tenant }: { session: Session; tenant: string }) {
  const base = `/v1/tenants/${enc(tenant)}/privacy-policy`;
  const current = useLoad(() => api<{ inForce: { policyId: string; policyVersion: number } | null; policy: unknown }>('GET', base), [base]);
  const [text, setText] = useState('');
  const [traceText, setTraceText] = useState('');
  /** A device whose last stored points are previewed instead of the trace. */
  const [storedDevice, setStoredDevice] = useState('');
  const admin = may(session.role, 'tenant-admin');
  useEffect(() => { if (current.data) setText(current.data.policy ? stringify(current.data.policy) : ''); }, [current.data]);
  const parsed = useMemo(() => parseYaml(text), [text]);
  const [check, setCheck] = useState<{ valid: boolean; problems: string[] } | undefined>(undefined);
  const [checkError, setCheckError] = useState<unknown>(undefined);
  const [preview, setPreview] = useState<PreviewRow[] | undefined>(undefined);
  const trace = useMemo(() => traceOf(traceText, parsed.policy as Policy | undefined), [traceText, parsed.policy]);

  // Validation and preview as you type, a moment after the last key; an answer to an older edit is dropped.
  useEffect(() => {
    if (!admin || parsed.error || !text.trim()) { setCheck(undefined); return; }
    let stale = false;
    const timer = setTimeout(() => {
      setCheckError(undefined);
      api<{ valid: boolean; problems: string[] }>('POST', `${base}/validate`, { policy: parsed.policy }).then((r) => {
        if (stale) return;
        setCheck(r);
        if (!r.valid || trace.error) return;
        const source = storedDevice ? { deviceId: storedDevice, stored: { last: 200 } } : { deviceId: 'preview', points: trace.points };
        return api<{ rows: PreviewRow[] }>('POST', `${base}/preview`, { policy: parsed.policy, ...source }).then((p) => { if (!stale) setPreview(p.rows); });
      }).catch((e: unknown) => { if (!stale) setCheckError(e); });
    }, 300);
    return () => { stale = true; clearTimeout(timer); };
  }, [text, trace, admin, base, storedDevice]);

  const publish = useAction<{ inForce: { policyId: string; policyVersion: number } }>();
  const policy = parsed.policy as Policy | undefined;
  const before: LatLon[] = storedDevice
    ? (preview ?? []).flatMap((r) => (typeof r.before?.latitude === 'number' ? [{ lat: r.before.latitude, lon: r.before.longitude! }] : []))
    : trace.points.map((p) => ({ lat: Number(p['latitude']), lon: Number(p['longitude']) }));
  const after = (preview ?? []).map((r) => (r.after && typeof r.after.latitude === 'number' ? { lat: r.after.latitude, lon: r.after.longitude! } : null));
  const loc = policy?.defaults?.['location'] ?? policy?.defaults?.['*'];
  const cellM = loc?.action === 'coarsen' && loc.coarsen?.method === 'grid' ? loc.coarsen.cellM : undefined;
  return (
    <section class="privacy">
      <ErrorBox error={current.error} />
      <p>In force: <strong data-testid="in-force">{!current.data ? 'loading…' : current.data.inForce ? `${current.data.inForce.policyId} version ${current.data.inForce.policyVersion}` : 'no policy'}</strong></p>
      <div class="columns">
        <div>
          <label for="policy-yaml">Policy (YAML)</label>
          <textarea id="policy-yaml" rows={18} spellcheck={false} readOnly={!admin} value={text} aria-describedby="policy-check"
            onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} />
          <div id="policy-check" aria-live="polite" data-testid="policy-check">
            {parsed.error && <ErrorBox error={parsed.error} />}
            <ErrorBox error={checkError} />
            {check && (check.valid ? <p class="ok">Valid.</p> : <ErrorBox error={new ApiError(422, 'TIQ_ERR_POLICY_INVALID', 'the policy has problems', check.problems)} />)}
          </div>
          {admin && (
            <button type="button" disabled={!check?.valid || publish.busy} onClick={() => void publish.run(async () => {
              const r = await api<{ inForce: { policyId: string; policyVersion: number } }>('PUT', base, { policy: parsed.policy });
              current.reload();
              return r;
            })}>Publish this version</button>
          )}
          <ErrorBox error={publish.error} />
          {publish.result && <p role="status">Published {publish.result.inForce.policyId} version {publish.result.inForce.policyVersion}: in force from the next message.</p>}
          <label for="trace">Trace to preview (JSON array or NDJSON of points with latitude, longitude, timeUnixMs; empty: a sample drive)</label>
          <textarea id="trace" rows={4} value={traceText} onInput={(e) => setTraceText((e.target as HTMLTextAreaElement).value)} />
          <ErrorBox error={trace.error} />
          <label for="stored-device">Or preview a device's last 200 stored points (as stored, under the policy then in force)</label>
          <input id="stored-device" value={storedDevice} placeholder="device id" onChange={(e) => setStoredDevice((e.target as HTMLInputElement).value.trim())} />
        </div>
        <div>
          {admin ? <TraceMap before={before} after={preview ? after : []} zones={policy?.zones ?? []} cellM={cellM} /> : <p>Previews need the tenant-admin role.</p>}
          {preview && <PreviewSummary rows={preview} />}
        </div>
      </div>
    </section>
  );
}

function traceOf(text: string, policy: Policy | undefined): { points: Record<string, unknown>[]; error?: ApiError } {
  if (!text.trim()) return { points: sampleTrace(policy) };
  try {
    const t = text.trim();
    const points = (t.startsWith('[') ? JSON.parse(t) : t.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l))) as Record<string, unknown>[];
    return { points };
  } catch (e) {
    return { points: sampleTrace(policy), error: new ApiError(0, 'TRACE_SYNTAX', (e as Error).message) };
  }
}

function PreviewSummary({ rows }: { rows: PreviewRow[] }) {
  const counts = new Map<string, number>();
  for (const r of rows) {
    const k = r.after === null ? `dropped (${r.dropReason ?? ''})` : r.applied.locationAction ?? 'keep';
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  const distinct = new Set(rows.filter((r) => r.after).map((r) => `${r.after!.latitude},${r.after!.longitude}`)).size;
  return (
    <table data-testid="preview-summary">
      <caption>After the policy: {distinct} distinct positions of {rows.length} points</caption>
      <tbody>{[...counts].map(([k, n]) => <tr key={k}><th scope="row">{k}</th><td>{n}</td></tr>)}</tbody>
    </table>
  );
}
