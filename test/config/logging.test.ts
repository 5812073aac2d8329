import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.ts';

describe('logger redaction', () => {
  it('never writes payloads, bodies, coordinates or key material, whatever a caller passes', () => {
    const lines: string[] = [];
    const sink = new Writable({ write(chunk: Buffer, _e, cb) { lines.push(chunk.toString()); cb(); } });
    const log = createLogger('info', sink);
    log.info({
      payload: 'SECRET-PAYLOAD', body: { latitude: 48.8584 }, latitude: 48.8584, longitude: 2.2945,
      msg2: { location: { latitude: 1 } }, key: 'KEYBYTES', detail: { plaintext: 'PT', dek: 'DEKBYTES' }, tenantId: 'acme',
    }, 'x');
    const text = lines.join('');
    for (const secret of ['SECRET-PAYLOAD', '48.8584', '2.2945', 'KEYBYTES', 'PT"', 'DEKBYTES']) expect(text).not.toContain(secret);
    expect(text).toContain('"tenantId":"acme"');
  });
});
