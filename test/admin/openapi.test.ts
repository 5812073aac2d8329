/** docs/openapi.yaml and the server name the same operations, and every error code the API uses is in the catalogue. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE } from '../../src/errors.ts';
import { AdminFixture } from './admin-fixture.ts';

const fx = new AdminFixture();
beforeAll(() => fx.start());
afterAll(() => fx.close());

type Doc = { paths: Record<string, Record<string, unknown>> };
const METHODS = ['get', 'put', 'post', 'delete', 'patch'];

describe('OpenAPI document', () => {
  it('is served at /openapi.json and lists exactly the server\'s routes', async () => {
    const res = await fx.call('GET', '/openapi.json');
    expect(res.status).toBe(200);
    const doc = res.json as unknown as Doc;
    const documented = Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item).filter((m) => METHODS.includes(m))
      .map((m) => `${m.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`)).sort();
    expect(documented).toEqual(fx.server.routes());
  });

  it('gives every operation a unique operationId', async () => {
    const doc = (await fx.call('GET', '/openapi.json')).json as unknown as Doc;
    const ids = Object.values(doc.paths).flatMap((item) => METHODS.flatMap((m) => (item[m] ? [(item[m] as { operationId?: string }).operationId] : [])));
    expect(ids.every((id) => typeof id === 'string')).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('names only catalogued error codes', async () => {
    const text = (await fx.call('GET', '/openapi.json')).text;
    for (const code of text.match(/TIQ_ERR_[A-Z_]+/g) ?? []) expect(Object.keys(ERROR_CATALOGUE)).toContain(code);
  });
});
