/**
 * The standalone policy file read by `thingiq policy check` and `preview`
 * (YAML or JSON; JSON is YAML). Two forms:
 *
 * - a single privacy section (the same object as `tenants.<id>.privacy` in
 *   the gateway config), recognised by `policyId` at the top;
 * - `{ tenants: { <id>: { privacy: <section>, deviceGroups?: {...} } } }`, the
 *   shape of the gateway config's tenants, so a file can be pasted into it.
 */
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { PrivacyConfig } from '../config/policy-config.ts';
import { formatPolicyIssues, validateTenantPolicies, type TenantPrivacySources } from './policy-validation.ts';

const Id = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'ids match ^[a-z0-9][a-z0-9-]{0,62}$');

const MultiTenantFileSchema = z.object({
  tenants: z.record(Id, z.object({
    privacy: z.unknown(),
    deviceGroups: z.record(Id, z.array(Id)).default({}),
  }).strict()),
}).strict();

export interface PolicyFile {
  /** Every problem, with its path; empty when the file is valid. */
  readonly problems: readonly string[];
  /** `single` for one section (it applies to whichever tenant is asked for), else `tenants`. */
  readonly form: 'single' | 'tenants';
  readonly sources: TenantPrivacySources;
  /** Parsed policies by tenant (`*` for the single form). */
  readonly policies: ReadonlyMap<string, PrivacyConfig>;
}

/** The tenant name under which the single form is validated and looked up. */
export const ANY_TENANT = '*';

export function parsePolicyText(text: string): { value: unknown; problems: string[] } {
  try {
    return { value: parseYaml(text), problems: [] };
  } catch (err) {
    return { value: undefined, problems: [`(file): not valid YAML or JSON: ${(err as Error).message.split('\n')[0]}`] };
  }
}

export function validatePolicyDocument(doc: unknown): PolicyFile {
  const isMulti = doc !== null && typeof doc === 'object' && 'tenants' in doc;
  if (!isMulti) {
    const sources = { [ANY_TENANT]: { privacy: doc ?? {} } };
    const { problems, policies } = validateTenantPolicies(sources);
    const clean = problems.map((p) => p.replace(/^tenants\.\*\.privacy\.?/, '').replace(/^:/, '(root):'));
    return { problems: clean, form: 'single', sources, policies: new Map([...policies].map(([t, p]) => [t, p.config])) };
  }
  const parsed = MultiTenantFileSchema.safeParse(doc);
  if (!parsed.success) return { problems: formatPolicyIssues('', parsed.error.issues), form: 'tenants', sources: {}, policies: new Map() };
  const sources: TenantPrivacySources = parsed.data.tenants;
  const { problems, policies } = validateTenantPolicies(sources);
  const missing = Object.entries(sources).filter(([, s]) => s.privacy === undefined).map(([t]) => `tenants.${t}.privacy: required`);
  return { problems: [...missing, ...problems], form: 'tenants', sources, policies: new Map([...policies].map(([t, p]) => [t, p.config])) };
}

export function validatePolicyFileText(text: string): PolicyFile {
  const { value, problems } = parsePolicyText(text);
  if (problems.length > 0) return { problems, form: 'single', sources: {}, policies: new Map() };
  return validatePolicyDocument(value);
}
