/**
 * `thingiq policy …`: validate a policy file, and preview what a policy does
 * to a recorded trace. The work lives in src/privacy/preview/policy-cli.ts.
 */
import type { Command } from 'commander';
import { PROCESS_IO, runPolicyCheck, runPolicyPreview, type CliIo } from '../privacy/preview/policy-cli.ts';

export function registerPolicyCommands(program: Command, io: CliIo = PROCESS_IO): void {
  const policy = program.command('policy').description('location-privacy policies (docs/privacy.md)');

  policy.command('check')
    .description('validate a policy file (YAML or JSON); prints OK or every problem, exit code 1 on problems')
    .argument('<file>', 'a privacy section, or { tenants: { <id>: { privacy, deviceGroups } } }')
    .option('--json', 'print JSON')
    .action((file: string, opts: { json?: boolean }) => {
      process.exitCode = runPolicyCheck(file, io, opts.json === true);
    });

  policy.command('preview')
    .description('run a policy over a recorded trace and print before/after per point')
    .requiredOption('--tenant <id>', 'tenant whose policy applies')
    .option('--device <id>', 'device the trace belongs to (selects group and device overrides)')
    .option('--stream <name>', 'stream the trace is published on', 'location')
    .requiredOption('--trace <file>', 'NDJSON of VehicleLocation (proto3 JSON) or GPX')
    .option('--svg <file>', 'also draw both tracks, zones and grid cells into this SVG file')
    .option('--policy <file>', 'policy file to use instead of the gateway configuration')
    .option('--json', 'print the rows as JSON')
    .action((opts: { tenant: string; device?: string; stream?: string; trace: string; svg?: string; policy?: string; json?: boolean }) => {
      const config = program.opts<{ config?: string }>().config;
      process.exitCode = runPolicyPreview({ ...opts, config }, io);
    });
}
