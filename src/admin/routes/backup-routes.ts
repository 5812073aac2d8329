/**
 * `POST /v1/backups`: the gateway snapshots its own databases (without
 * stopping ingest), writes an encrypted backup and streams it back; the file
 * on the gateway's side is removed once sent. Operators only: a backup holds
 * every tenant's (encrypted) data. The CLI's `backup create` comes here when
 * a gateway runs, so the call is audited with its actor like any other.
 */
import { createReadStream } from 'node:fs';
import { TiqError } from '../../errors.ts';
import { noteAudit } from '../route-access.ts';
import { route, type RouteContext } from './route.ts';

export function registerBackupRoutes({ app, deps }: RouteContext): void {
  route(app, 'POST', '/v1/backups', { needs: 'operator', action: 'backup.create' }, async (request, reply) => {
    if (!deps.backups) throw new TiqError('TIQ_ERR_NOT_FOUND', 'this server takes no backups');
    const made = await deps.backups.create();
    noteAudit(request, `files=${made.files} bytes=${made.bytes} sha256=${made.sha256}`);
    const body = createReadStream(made.file);
    body.once('close', () => made.discard());
    reply.header('content-type', 'application/octet-stream')
      .header('content-disposition', 'attachment; filename="thingiq-backup.tiqbak"')
      .header('content-length', String(made.bytes))
      .header('x-thingiq-backup-sha256', made.sha256);
    return reply.send(body);
  });
}
