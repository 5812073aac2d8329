import { describe, expect, it } from 'vitest';
import { decodeEnvelope, encodeEnvelope } from '../../src/keys/envelope-codec.ts';
import { expectCode, newSealer, sealInput, startLocalProvider } from './fixtures.ts';

describe('envelope proto', () => {
  it('encodes and decodes every field; the decoded envelope opens', async () => {
    const { sealer } = newSealer(await startLocalProvider());
    const input = sealInput();
    const sealed = await sealer.seal(input);
    const decoded = decodeEnvelope(encodeEnvelope(sealed));
    expect(decoded).toEqual(sealed);
    expect(await sealer.open({ ...decoded, tenantId: input.tenantId, deviceId: input.deviceId, stream: input.stream, recordId: input.recordId })).toEqual(input.plaintext);
  });

  it('refuses bytes that are not an envelope', async () => {
    await expectCode(() => decodeEnvelope(Buffer.from([0xff, 0xff, 0xff])), 'TIQ_ERR_DECRYPT');
    await expectCode(() => decodeEnvelope(Buffer.alloc(0)), 'TIQ_ERR_DECRYPT');
  });
});
