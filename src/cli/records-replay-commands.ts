/**
 * `thingiq records replay|tail`: a tenant's stored records from a cursor,
 * through the admin API (docs/storage.md, "Replay"). With --url and
 * credentials (an app certificate, a token), any gateway, as that caller;
 * without, the gateway running on this data directory, as the local
 * operator. While a gateway runs, reads go through its API, never around
 * it, so each is within the caller's grants and audited by the gateway. With
 * no gateway running, replay reads the sinks itself under the data
 * directory's lock and audits itself (records-replay-offline.ts); tail needs
 * a gateway.
 *
 * Output is NDJSON: the API's record lines, then (replay) one `end` line
 * with the count and the cursor to resume from.
 */
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { Writable } from 'node:stream';
import { AdminClient } from '../admin/admin-client.ts';
import { TiqError } from '../errors.ts';
import { openStorage } from '../gateway/open-storage.ts';
import type { DecodeRecord, OpenRecord } from '../sinks/record-export.ts';
import { action, cliConfig } from './context.ts';
import { replayOffline } from './records-replay-offline.ts';
import { runningGatewayClient, viaGatewayOrLocally } from './state-path.ts';

export interface ReplayCommandDeps {
  readonly print: (text: string) => void;
  readonly openRecord?: OpenRecord | undefined;
  readonly decode?: DecodeRecord | undefined;
}

interface ReplayOptions {
  tenant: string; cursor?: string; from?: string; limit?: string; device?: string; stream?: string;
  url?: string; ca?: string; cert?: string; key?: string; token?: string;
}

const PAGE = 1000;

/** Validated already (validate-options.ts): ISO 8601 or epoch milliseconds. */
function parseTime(text: string): number {
  return /^\d+$/.test(text) ? Number(text) : Date.parse(text);
}

/** The gateway named by --url and credentials, or undefined when none are given. */
function remoteClient(o: ReplayOptions): AdminClient | undefined {
  const token = o.token ?? process.env['THINGIQ_ADMIN_TOKEN'];
  if (o.url === undefined && o.ca === undefined && o.cert === undefined && token === undefined) return undefined;
  if (o.url === undefined || o.ca === undefined) {
    throw new TiqError('TIQ_ERR_USAGE', { problems: ['--url and --ca are needed with --cert/--key or --token (verification is never turned off)'] });
  }
  return new AdminClient({ url: o.url, caFile: o.ca, certFile: o.cert, keyFile: o.key, token });
}

function clientFor(cmd: Command, o: ReplayOptions): AdminClient {
  const remote = remoteClient(o);
  if (remote) return remote;
  const dataDir = resolve(cliConfig(cmd).config.dataDir);
  const local = runningGatewayClient(dataDir);
  if (local) return local;
  throw new TiqError('TIQ_ERR_UNREACHABLE', { problems: [`no gateway runs on ${dataDir}: start one, or give --url and --ca with --cert and --key or --token`] });
}

function pathOf(o: ReplayOptions, tail: boolean, cursor: string | undefined, limit?: number): string {
  const q = new URLSearchParams();
  if (cursor !== undefined) q.set('cursor', cursor);
  else if (o.from !== undefined) q.set('from', o.from);
  if (limit !== undefined) q.set('limit', String(limit));
  if (o.device !== undefined) q.set('device', o.device);
  if (o.stream !== undefined) q.set('stream', o.stream);
  const query = q.toString();
  return `/v1/tenants/${encodeURIComponent(o.tenant)}/records${tail ? '/tail' : ''}${query ? `?${query}` : ''}`;
}

/** Splits the answer into lines: records go out at once, other lines to `other`. */
function lineSplitter(out: (line: string) => void, other: (line: Record<string, unknown>) => void): Writable {
  let rest = '';
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      const lines = (rest + chunk.toString('utf8')).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines.filter(Boolean)) {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        if (parsed['type'] === 'record') out(`${line}\n`);
        else other(parsed);
      }
      done();
    },
  });
}

/** Chains pages until caught up (or --limit records): the resume cursor is in the last line. */
async function replay(client: AdminClient, o: ReplayOptions, print: (text: string) => void): Promise<void> {
  const wanted = o.limit !== undefined ? Number(o.limit) : Number.POSITIVE_INFINITY;
  let cursor = o.cursor;
  let count = 0;
  let end: Record<string, unknown> | undefined;
  for (;;) {
    const limit = Math.min(PAGE, wanted - count);
    end = undefined;
    await client.stream('GET', pathOf(o, false, cursor, limit), lineSplitter(print, (l) => { if (l['type'] === 'end') end = l; }));
    // No end line: the gateway could not audit the read and cut the answer; what was printed stands, resume from it.
    if (!end) throw new TiqError('TIQ_ERR_AUDIT', { problems: ['the answer ended without its end line: ask again from the last record\'s cursor'] });
    count += Number(end['count']);
    cursor = String(end['nextCursor']);
    if (end['more'] !== true || count >= wanted) break;
  }
  print(`${JSON.stringify({ type: 'end', count, nextCursor: cursor, more: end['more'] === true })}\n`);
}

function withReplayOptions(cmd: Command): Command {
  return cmd.requiredOption('--tenant <id>', 'tenant').option('--cursor <cursor>', 'resume after this cursor (nextCursor or a record\'s cursor)')
    .option('--from <time>', 'received at or after (ISO 8601 or epoch ms)').option('--device <id>', 'one device').option('--stream <name>', 'one stream')
    .option('--url <url>', 'admin API of another gateway (8444: certificates, 8443: tokens)').option('--ca <file>', 'CA certificate of the gateway')
    .option('--cert <file>', 'app or operator certificate').option('--key <file>', 'its private key').option('--token <jwt>', 'bearer token (or THINGIQ_ADMIN_TOKEN)');
}

export function registerReplayCommands(records: Command, deps: ReplayCommandDeps): void {
  const { print } = deps;
  const checked = (o: ReplayOptions) => {
    if (o.cursor !== undefined && o.from !== undefined) throw new TiqError('TIQ_ERR_USAGE', 'give --cursor or --from, not both');
    return o;
  };
  withReplayOptions(records.command('replay').description('stored records after a cursor or time, through the admin API, as NDJSON'))
    .option('--limit <n>', 'at most this many records (default: all, page by page)')
    .action(action(async (o: ReplayOptions, cmd: Command) => {
      const remote = remoteClient(checked(o));
      if (remote) return replay(remote, o, print);
      const configPath = cmd.optsWithGlobals<{ config?: string }>().config;
      await viaGatewayOrLocally(cliConfig(cmd).config, {
        online: (client) => replay(client, o, print),
        offline: async (state) => {
          if (!deps.openRecord || !deps.decode) throw new Error('replay is not wired to the keys module and codec in this build');
          const storage = await openStorage(configPath);
          try {
            await replayOffline(storage, state, {
              tenant: o.tenant, cursor: o.cursor, fromMs: o.from !== undefined ? parseTime(o.from) : undefined,
              limit: o.limit !== undefined ? Number(o.limit) : Number.POSITIVE_INFINITY, device: o.device, stream: o.stream,
            }, { openRecord: deps.openRecord, decode: deps.decode, print });
          } finally {
            await storage.close();
          }
        },
      });
    }));
  withReplayOptions(records.command('tail').description('follow: stored records from a cursor (default: now) and each new one as it is stored, until interrupted'))
    .action(action(async (o: ReplayOptions, cmd: Command) => {
      await clientFor(cmd, checked(o)).stream('GET', pathOf(o, true, o.cursor), lineSplitter(print, () => undefined));
    }));
}
