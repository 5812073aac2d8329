/**
 * `thingiq audit verify|query`: on the local audit log, so they work with
 * the gateway stopped. Verification needs the chain key (`chain.key` next
 * to the log, or `--key-file` for a copy kept elsewhere); it never creates
 * one. Both read the log line by line.
 */
import type { Command } from 'commander';
import { join, resolve } from 'node:path';
import { auditDirOf, AuditLog, AUDIT_FILE } from '../audit/audit-log.ts';
import { verifyAuditLog } from '../audit/verify-audit-log.ts';
import { action, cliConfig, printTable } from './context.ts';

export interface AuditCommandDeps {
  readonly out?: (text: string) => void;
}

function auditDir(cmd: Command, file: string | undefined): string {
  if (file) return resolve(file, '..');
  return auditDirOf(resolve(cliConfig(cmd).config.dataDir));
}

export function registerAuditCommands(program: Command, deps: AuditCommandDeps = {}): void {
  const out = deps.out ?? ((t: string) => process.stdout.write(t));
  const audit = program.command('audit').description('the hash-chained audit log: verify and query');

  audit.command('verify').description('recompute the keyed chain, check it against the checkpoint, report the first break (exit 1, TIQ_ERR_AUDIT, when broken, missing or truncated)')
    .option('--file <path>', `the log file (default: <dataDir>/audit/${AUDIT_FILE})`)
    .option('--key-file <path>', 'the chain key (default: chain.key next to the log)')
    .option('--checkpoint <path>', 'the checkpoint (default: checkpoint.json next to the log)')
    .option('--json', 'print JSON')
    .action(action(async (opts: { file?: string; keyFile?: string; checkpoint?: string; json?: boolean }, cmd: Command) => {
      const path = opts.file ? resolve(opts.file) : join(auditDir(cmd, undefined), AUDIT_FILE);
      const verified = verifyAuditLog(path, {
        ...(opts.keyFile ? { keyFile: resolve(opts.keyFile) } : {}),
        ...(opts.checkpoint ? { checkpointFile: resolve(opts.checkpoint) } : {}),
      });
      const result = verified.ok ? verified : { ...verified, code: 'TIQ_ERR_AUDIT' };
      if (opts.json) out(`${JSON.stringify(result)}\n`);
      else if (result.ok) out(`audit log ok: ${result.entries} entries, head ${result.head.seq} ${result.head.hash}\n`);
      else out(`audit log BROKEN (TIQ_ERR_AUDIT) at line ${result.firstBreak!.line} (expected sequence ${result.firstBreak!.expectedSeq}): ${result.firstBreak!.reason}; ${result.entries} entries before it verify\n`);
      if (!result.ok) process.exitCode = 1;
    }));

  audit.command('query').description('list entries, oldest first')
    .option('--file <path>', 'the log file')
    .option('--tenant <tenant>').option('--action <action>').option('--actor <actor>')
    .option('--after <seq>', 'entries after this sequence number').option('--limit <n>', 'at most this many', '100')
    .option('--json', 'print JSON lines')
    .action(action(async (opts: Record<string, string | boolean | undefined>, cmd: Command) => {
      const log = new AuditLog(auditDir(cmd, typeof opts['file'] === 'string' ? opts['file'] : undefined));
      const entries = log.query({
        ...(typeof opts['tenant'] === 'string' ? { tenant: opts['tenant'] } : {}),
        ...(typeof opts['action'] === 'string' ? { action: opts['action'] } : {}),
        ...(typeof opts['actor'] === 'string' ? { actor: opts['actor'] } : {}),
        ...(typeof opts['after'] === 'string' ? { afterSeq: Number(opts['after']) } : {}),
        limit: Number(opts['limit'] ?? 100),
      });
      if (opts['json']) out(entries.map((e) => `${JSON.stringify(e)}\n`).join(''));
      else printTable(entries.map(({ seq, time, actor, role, action: verb, target, tenant, result, detail }) => ({ seq, time, actor, role, action: verb, target, tenant, result, detail })));
    }));
}
