/**
 * From the text of a config file to a raw config object, refusing what cannot
 * be a whole configuration: YAML errors (every one, with line and column),
 * an empty file, several documents, anything but a mapping at the root, and
 * a mapping without `tenants`. An editor that truncates the file before
 * writing it, or a copy caught half-way, produces exactly these; accepting
 * them would read as "no tenants" and close every session.
 *
 * Problems name positions and YAML error codes, never the file's text: a
 * config may hold connection strings with passwords.
 */
import { parseAllDocuments } from 'yaml';

export type RawConfig = Readonly<Record<string, unknown>>;
export type ConfigTextResult = { ok: true; raw: RawConfig } | { ok: false; problems: readonly string[] };

function position(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return `line ${line}, column ${offset - before.lastIndexOf('\n')}`;
}

/** Every YAML syntax problem of the text, or the one document it holds. */
function yamlDocument(text: string): { ok: true; value: unknown } | { ok: false; problems: string[] } {
  const docs = parseAllDocuments(text, { prettyErrors: false });
  const list = Array.isArray(docs) ? docs : [docs];
  const problems = list.flatMap((d) => d.errors.map((e) => `not valid YAML: ${position(text, e.pos[0])}: ${e.code}: ${e.message}`));
  if (problems.length) return { ok: false, problems };
  if (list.length > 1) return { ok: false, problems: [`(root): ${list.length} YAML documents; a config file holds one`] };
  const value: unknown = list[0]?.toJS({ maxAliasCount: 100 });
  return { ok: true, value };
}

/** The checks that make a parsed value a candidate configuration at all (the schema comes after). */
export function checkConfigShape(value: unknown): ConfigTextResult {
  if (value === undefined || value === null) {
    return { ok: false, problems: ['(root): the file is empty; an empty or half-written file never replaces the configuration'] };
  }
  if (typeof value !== 'object' || Array.isArray(value)) {
    return { ok: false, problems: [`(root): expected a mapping of sections, got ${Array.isArray(value) ? 'a list' : `a ${typeof value}`}`] };
  }
  if (!Object.hasOwn(value, 'tenants')) {
    return { ok: false, problems: ['tenants: missing; a config file lists its tenants (write `tenants: {}` for none), so a truncated file is not read as "no tenants"'] };
  }
  return { ok: true, raw: value as RawConfig };
}

export function parseConfigText(text: string): ConfigTextResult {
  const doc = yamlDocument(text);
  return doc.ok ? checkConfigShape(doc.value) : doc;
}
