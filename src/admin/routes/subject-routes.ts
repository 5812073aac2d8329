/**
 * Data-subject requests per device (GDPR Art. 15, 17, 20, 21; restriction,
 * Art. 18, is in device-routes): access and export as NDJSON, erasure with a
 * receipt, objection to a purpose.
 */
import { randomUUID } from 'node:crypto';
import { PassThrough, Writable } from 'node:stream';
import { z } from 'zod';
import { TiqError } from '../../errors.ts';
import { heldNow } from '../admin-deps.ts';
import { noteAudit, principalOf } from '../route-access.ts';
import { IdSchema, idsOf, parseInput, route, type RouteContext } from './route.ts';

const ObjectionBody = z.object({
  purpose: IdSchema,
  reason: z.string().max(1000).optional(),
}).strict();

export interface ErasureReceipt {
  readonly type: 'thingiq.admin.erasure-receipt';
  readonly version: 1;
  readonly receiptId: string;
  readonly tenantId: string;
  readonly deviceId: string;
  /** The id the audit log knows this device by. */
  readonly auditSubject: string;
  readonly requestedBy: string;
  readonly completedAt: string;
  readonly recordsDeleted: number;
  readonly recordsRemaining: number;
  readonly keysDestroyed: number;
  /** Device KEKs destroyed in the key store (what makes copies of the data unreadable). */
  readonly deviceKeysDestroyed: number;
  readonly keyReceiptId: string;
}

export function registerSubjectRoutes({ app, deps }: RouteContext): void {
  route(app, 'GET', '/v1/tenants/:tenant/devices/:device/data', { needs: 'tenant-admin', action: 'subjects.access' }, async (request, reply) => {
    const { tenant, device } = idsOf(request);
    const total = await deps.records.countDevice(tenant, device);
    noteAudit(request, `records=${total}`);
    // Streamed page by page: an export may be far larger than memory.
    const out = new PassThrough();
    // A failure after the first line aborts the response (logged below); it is never an uncaught stream error.
    out.on('error', () => undefined);
    let streaming!: () => void;
    const started = new Promise<void>((resolve) => { streaming = resolve; });
    const exporting = deps.records.exportDevice(tenant, device, new Writable({
      write(chunk: Buffer, _enc, done) {
        streaming();
        if (out.write(chunk)) done();
        else out.once('drain', () => done());
      },
    }));
    exporting.then(() => out.end(), (err: unknown) => {
      request.log.error({ err }, 'export failed part-way');
      out.destroy(err as Error);
    });
    // Nothing sent yet: a failure on the first record (keys shredded, storage down) is an error response, not a cut 200.
    await Promise.race([started, exporting]);
    reply.header('content-type', 'application/x-ndjson; charset=utf-8')
      .header('content-disposition', `attachment; filename="${tenant}-${device}.ndjson"`)
      .header('x-thingiq-record-count', String(total));
    return reply.send(out);
  });

  route(app, 'POST', '/v1/tenants/:tenant/devices/:device/erasure', { needs: 'tenant-admin', action: 'subjects.erasure' }, async (request) => {
    const { tenant, device } = idsOf(request);
    // GDPR Art. 17(3)(e): data under a legal hold is kept; the hold must be released first.
    if (await heldNow(deps.retention, tenant, device)) throw new TiqError('TIQ_ERR_LEGAL_HOLD');
    const actor = principalOf(request).actor;
    // Records first, keys second: a crash in between leaves unreadable-later data, never readable orphans.
    const { deletedRecords } = await deps.records.eraseDevice(tenant, device);
    const shred = await deps.keys.shred(tenant, device, actor);
    const receipt: ErasureReceipt = {
      type: 'thingiq.admin.erasure-receipt', version: 1, receiptId: randomUUID(), tenantId: tenant, deviceId: device,
      auditSubject: deps.audit.pseudonyms.device(tenant, device), requestedBy: actor, completedAt: new Date().toISOString(),
      recordsDeleted: deletedRecords, recordsRemaining: await deps.records.countDevice(tenant, device),
      keysDestroyed: shred.destroyedCount, deviceKeysDestroyed: shred.deviceKekRefs?.length ?? 0, keyReceiptId: shred.receiptId,
    };
    noteAudit(request, `receipt=${receipt.receiptId} records=${deletedRecords} keys=${shred.destroyedCount}`);
    return receipt;
  });

  route(app, 'GET', '/v1/tenants/:tenant/devices/:device/objections', { needs: 'tenant-reader', action: 'subjects.objections.list' }, async (request) => {
    const { tenant, device } = idsOf(request);
    return { objections: deps.objections.list(tenant, device).map((o) => ({ purpose: o.purpose, timeMs: o.timeMs, reason: o.reason })) };
  });

  route(app, 'POST', '/v1/tenants/:tenant/devices/:device/objections', { needs: 'tenant-admin', action: 'subjects.objection' }, async (request, reply) => {
    const { tenant, device } = idsOf(request);
    const body = parseInput(ObjectionBody, request.body);
    const o = await deps.objections.record({ tenantId: tenant, deviceId: device, purpose: body.purpose, actor: principalOf(request).actor, reason: body.reason ?? '' });
    noteAudit(request, `purpose=${body.purpose}`);
    reply.code(201);
    return { purpose: o.purpose, timeMs: o.timeMs };
  });
}
