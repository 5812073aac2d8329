/**
 * The admin API as the console calls it: same origin, the session cookie,
 * and the session's CSRF token on every state change. Error answers become
 * ApiErrors with the API's code, message and problems, shown as they are.
 */
export interface Session {
  readonly actor: string;
  readonly role: 'operator' | 'tenant-admin' | 'tenant-reader';
  readonly tenant: string | null;
  readonly csrfToken: string;
  readonly idleTimeoutS: number;
  readonly expiresAt: string;
}

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly problems: readonly string[] = []) {
    super(message);
  }
}

let csrf = '';
let onSignedOut: (code: string) => void = () => undefined;

export function useSession(s: Session | undefined, signedOut: (code: string) => void): void {
  csrf = s?.csrfToken ?? '';
  onSignedOut = signedOut;
}

async function errorOf(res: Response): Promise<ApiError> {
  try {
    const body = (await res.json()) as { code?: string; message?: string; problems?: string[] };
    return new ApiError(res.status, body.code ?? `HTTP_${res.status}`, body.message ?? res.statusText, body.problems ?? []);
  } catch {
    return new ApiError(res.status, `HTTP_${res.status}`, res.statusText);
  }
}

export async function call(method: string, path: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET') headers['x-csrf-token'] = csrf;
  const res = await fetch(path, { method, headers, credentials: 'same-origin', ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  if (!res.ok) {
    const err = await errorOf(res);
    if (err.code === 'TIQ_ERR_SESSION_EXPIRED') onSignedOut(err.code);
    throw err;
  }
  return res;
}

export async function api<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await call(method, path, body);
  const text = await res.text();
  return (text ? JSON.parse(text) : {}) as T;
}

export const enc = encodeURIComponent;

/** What a role may change: readers change nothing; some actions are operators' only (as in the API). */
export function may(role: Session['role'], needs: Session['role']): boolean {
  const rank = { 'tenant-reader': 1, 'tenant-admin': 2, operator: 3 };
  return rank[role] >= rank[needs];
}

/** Saves a text as a file the browser downloads. */
export function download(name: string, text: string, type = 'application/json'): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
