/** Small shared pieces: API error display, loading, typed confirmation, a time-series chart. */
import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { ApiError } from './api.ts';

export function ErrorBox({ error }: { error: unknown }) {
  if (!error) return null;
  const e = error instanceof ApiError ? error : new ApiError(0, 'CONSOLE_ERROR', String(error));
  return (
    <div class="error" role="alert">
      <strong class="code">{e.code}</strong> {e.message}
      {e.problems.length > 0 && <ul>{e.problems.map((p) => <li key={p}>{p}</li>)}</ul>}
    </div>
  );
}

/** Loads `load()` when `deps` change; `reload` runs it again. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): { data: T | undefined; error: unknown; reload: () => void } {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    setError(undefined);
    load().then((d) => live && setData(d), (e: unknown) => live && setError(e));
    return () => { live = false; };
  }, [...deps, n]);
  return { data, error, reload: useCallback(() => setN((x) => x + 1), []) };
}

/** Runs an action, keeping its result or error for display. */
export function useAction<T>(): { busy: boolean; result: T | undefined; error: unknown; run: (f: () => Promise<T>) => Promise<void>; reset: () => void } {
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const run = async (f: () => Promise<T>) => {
    setBusy(true);
    setError(undefined);
    setResult(undefined);
    try {
      setResult(await f());
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return { busy, result, error, run, reset: () => { setResult(undefined); setError(undefined); } };
}

/**
 * A confirmation for irreversible actions: the person types `word` (a device
 * id, a tenant) before the button enables.
 */
export function TypedConfirm({ word, label, onConfirm, busy, children }: { word: string; label: string; onConfirm: () => void; busy?: boolean; children?: ComponentChildren }) {
  const [typed, setTyped] = useState('');
  const id = `confirm-${label.replace(/\W+/g, '-').toLowerCase()}`;
  return (
    <div class="confirm" role="group" aria-label={`confirm: ${label}`}>
      {children}
      <label for={id}>Type <code>{word}</code> to confirm</label>
      <input id={id} value={typed} autocomplete="off" onInput={(e) => setTyped((e.target as HTMLInputElement).value)} />
      <button type="button" class="danger" disabled={typed !== word || busy} onClick={onConfirm}>{label}</button>
    </div>
  );
}

/** A small line chart of one series (SVG, no library): values over the last minutes. */
export function Chart({ title, values, unit }: { title: string; values: readonly number[]; unit: string }) {
  const w = 220, h = 60;
  const max = Math.max(1e-9, ...values);
  const pts = values.map((v, i) => `${(i / Math.max(1, values.length - 1)) * w},${h - (v / max) * (h - 4) - 2}`).join(' ');
  const last = values.at(-1);
  return (
    <figure class="chart">
      <figcaption>{title}: <strong>{last === undefined ? '–' : fmt(last)}</strong> {unit}</figcaption>
      <svg viewBox={`0 0 ${w} ${h}`} width={w} height={h} role="img" aria-label={`${title}, last ${values.length} samples, now ${last === undefined ? 'none' : fmt(last)} ${unit}`}>
        <rect x="0" y="0" width={w} height={h} class="chart-bg" />
        {values.length > 1 && <polyline points={pts} class="chart-line" />}
      </svg>
    </figure>
  );
}

export function fmt(v: number): string {
  return Math.abs(v) >= 100 || Number.isInteger(v) ? String(Math.round(v)) : v.toFixed(2);
}
