/** Calls to a node's admin API on its certificate listener (verified TLS, operator or app certificate). */
import { request } from 'node:https';
import type { ClientPem } from '../../helpers/pki.ts';

export function adminCall(port: number, pem: ClientPem, method: string, path: string, body?: unknown): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const headers = body === undefined ? {} : { 'content-type': 'application/json' };
    const req = request({ host: '127.0.0.1', port, method, path, cert: pem.cert, key: pem.key, ca: pem.ca, servername: 'localhost', headers }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => { text += d.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** Lines of a device's decrypted data export through this node (0 when it cannot decrypt them). */
export async function decryptedLines(port: number, pem: ClientPem, tenant: string, device: string): Promise<number> {
  const r = await adminCall(port, pem, 'GET', `/v1/tenants/${tenant}/devices/${device}/data`).catch(() => ({ status: 0, text: '' }));
  return r.status === 200 ? r.text.split('\n').filter((l) => l.trim() !== '').length : 0;
}
