/**
 * `thingiq audit verify|query`: on the local audit log, so they work with
 * the gateway stopped. Verification needs the chain key (`chain.key` next
 * to the log, or `--key-file` for a copy kept elsewhere); it never creates
 * one. Both read the log line by line. In cluster mode (a `cluster` section)
 * both work on the chain the nodes share in PostgreSQL instead, unless
 * `--file` names a log.
 */
import type { Command } from 'commander';
import { join, resolve } from 'node:path';
import { auditDirOf, AuditLog, AUDIT_FILE } from '../audit/audit-log.ts';
import { existsSync, statSync } from 'node:fs';
import { checkAuditAnchor, type AnchorCheck } from '../audit/audit-anchor.ts';
import { verifyAuditLog, type AuditVerification } from '../audit/verify-audit-log.ts';
import type { GatewayConfig } from '../config/schema.ts';
import { auditHeadKey } from '../control/audit-head.ts';
import type { AuditHeadValue } from '../control/control-kinds.ts';
import { openControlStore } from '../control/open-control-store.ts';
import { clusterAuditTrail } from '../cluster/cluster-state.ts';
import type { PgAuditChain } from '../cluster/pg-audit-chain.ts';
import { action, cliConfig, printTable } from './context.ts';

type AnchoredResult = AuditVerification & { code: 'TIQ_ERR_AUDIT_HEAD'; anchor: AnchorCheck; recordedHead: AuditHeadValue };

/**
 * The head recorded in the control store, if there is one (a SQLite store
 * that does not exist yet is not created by verifying). undefined: nothing
 * recorded, or the log holds it.
 */
async function againstRecordedHead(config: GatewayConfig, path: string, verified: AuditVerification): Promise<AnchoredResult | undefined> {
  const c = config.controlStore;
  const dataDir = resolve(config.dataDir);
  if ((c === undefined || c.type === 'sqlite') && !existsSync(resolve(dataDir, c?.path ?? 'control.db'))) return undefined;
  const store = await openControlStore(c, dataDir);
  try {
    const recorded = store.get('audit-head', auditHeadKey(path));
    if (!recorded) return undefined;
    const anchor = checkAuditAnchor(path, verified.head, recorded);
    if (anchor === 'ok') return undefined;
    return { ...verified, ok: false, code: 'TIQ_ERR_AUDIT_HEAD', anchor, recordedHead: recorded,
      firstBreak: { line: verified.head.seq + 1, expectedSeq: Math.min(recorded.seq, verified.head.seq + 1), reason: 'anchor' } };
  } finally {
    await store.close();
  }
}

/** Cluster mode: the chain the nodes share in PostgreSQL, with the same codes and break reasons as the file log. */
async function verifyClusterChain(chain: PgAuditChain, json: boolean, out: (text: string) => void): Promise<void> {
  let verified: AuditVerification;
  try {
    verified = await chain.verify();
  } finally {
    await chain.close();
  }
  const result = verified.ok ? verified : { ...verified, code: 'TIQ_ERR_AUDIT' };
  if (json) out(`${JSON.stringify(result)}\n`);
  else if (result.ok) out(`audit chain ok: ${result.entries} entries, head ${result.head.seq} ${result.head.hash}\n`);
  else out(`audit chain BROKEN (TIQ_ERR_AUDIT) at entry ${result.firstBreak!.line} (expected sequence ${result.firstBreak!.expectedSeq}): ${result.firstBreak!.reason}; ${result.entries} entries before it verify\n`);
  if (!result.ok) process.exitCode = 1;
}

export interface AuditCommandDeps {
  readonly out?: (text: string) => void;
}

/**
 * `--file` names the log; a directory (such as the `audit-before-restore-<time>/`
 * a restore sets aside) stands for the log inside it, with its key and checkpoint.
 */
function logFileOf(file: string): string {
  const path = resolve(file);
  return existsSync(path) && statSync(path).isDirectory() ? join(path, AUDIT_FILE) : path;
}

function auditDir(cmd: Command, file: string | undefined): string {
  if (file) return resolve(logFileOf(file), '..');
  return auditDirOf(resolve(cliConfig(cmd).config.dataDir));
}

export function registerAuditCommands(program: Command, deps: AuditCommandDeps = {}): void {
  const out = deps.out ?? ((t: string) => process.stdout.write(t));
  const audit = program.command('audit').description('the hash-chained audit log: verify and query');

  audit.command('verify').description('recompute the keyed chain, check it against the checkpoint and the head recorded in the control store, report the first break (exit 1: TIQ_ERR_AUDIT when broken, missing or truncated; TIQ_ERR_AUDIT_HEAD when the log lacks the recorded head)')
    .option('--file <path>', `the log file, or a directory holding ${AUDIT_FILE} (default: <dataDir>/audit/${AUDIT_FILE})`)
    .option('--key-file <path>', 'the chain key (default: chain.key next to the log)')
    .option('--checkpoint <path>', 'the checkpoint (default: checkpoint.json next to the log)')
    .option('--json', 'print JSON')
    .action(action(async (opts: { file?: string; keyFile?: string; checkpoint?: string; json?: boolean }, cmd: Command) => {
      const chain = opts.file ? undefined : await clusterAuditTrail(cliConfig(cmd).config);
      if (chain) {
        await verifyClusterChain(chain, opts.json === true, out);
        return;
      }
      const path = opts.file ? logFileOf(opts.file) : join(auditDir(cmd, undefined), AUDIT_FILE);
      const verified = verifyAuditLog(path, {
        ...(opts.keyFile ? { keyFile: resolve(opts.keyFile) } : {}),
        ...(opts.checkpoint ? { checkpointFile: resolve(opts.checkpoint) } : {}),
      });
      // The log's own checks first; then, for the configured log, the head the control store recorded.
      const anchored = verified.ok && !opts.file ? await againstRecordedHead(cliConfig(cmd).config, path, verified) : undefined;
      const result = anchored ?? (verified.ok ? verified : { ...verified, code: 'TIQ_ERR_AUDIT' });
      if (opts.json) out(`${JSON.stringify(result)}\n`);
      else if (result.ok) out(`audit log ok: ${result.entries} entries, head ${result.head.seq} ${result.head.hash}\n`);
      else if (anchored) out(`audit log BROKEN (TIQ_ERR_AUDIT_HEAD): the control store recorded entry ${anchored.recordedHead.seq} (${anchored.recordedHead.time}), the log ${anchored.anchor === 'truncated' ? 'has fewer entries' : 'holds another entry there'}; ${result.entries} entries verify\n`);
      else out(`audit log BROKEN (TIQ_ERR_AUDIT) at line ${result.firstBreak!.line} (expected sequence ${result.firstBreak!.expectedSeq}): ${result.firstBreak!.reason}; ${result.entries} entries before it verify\n`);
      if (!result.ok) process.exitCode = 1;
    }));

  audit.command('query').description('list entries, oldest first')
    .option('--file <path>', `the log file, or a directory holding ${AUDIT_FILE}`)
    .option('--tenant <tenant>').option('--action <action>').option('--actor <actor>')
    .option('--after <seq>', 'entries after this sequence number').option('--limit <n>', 'at most this many', '100')
    .option('--json', 'print JSON lines')
    .action(action(async (opts: Record<string, string | boolean | undefined>, cmd: Command) => {
      const chain = typeof opts['file'] === 'string' ? undefined : await clusterAuditTrail(cliConfig(cmd).config);
      const log = chain ?? new AuditLog(auditDir(cmd, typeof opts['file'] === 'string' ? opts['file'] : undefined));
      const entries = await Promise.resolve(log.query({
        ...(typeof opts['tenant'] === 'string' ? { tenant: opts['tenant'] } : {}),
        ...(typeof opts['action'] === 'string' ? { action: opts['action'] } : {}),
        ...(typeof opts['actor'] === 'string' ? { actor: opts['actor'] } : {}),
        ...(typeof opts['after'] === 'string' ? { afterSeq: Number(opts['after']) } : {}),
        limit: Number(opts['limit'] ?? 100),
      })).finally(() => chain?.close());
      if (opts['json']) out(entries.map((e) => `${JSON.stringify(e)}\n`).join(''));
      else printTable(entries.map(({ seq, time, actor, role, action: verb, target, tenant, result, detail }) => ({ seq, time, actor, role, action: verb, target, tenant, result, detail })));
    }));
}
