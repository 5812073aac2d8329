/**
 * Compiles src/ to dist/ (tsconfig.build.json) when dist/ is missing or older
 * than any source file, so a fresh clone's `npm start` and every `thingiq`
 * call run JavaScript without a TypeScript loader at run time. Used by the
 * `thingiq` entry point, `npm run build` and `npm install` (prepare).
 *
 * Several processes may start at once (tests, a service and a CLI call): one
 * builds while holding dist.lock (mkdir is atomic); the others wait for it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
const DIST = join(ROOT, 'dist');
const STAMP = join(DIST, '.build-stamp');
const LOCK = join(ROOT, 'dist.lock');
const INPUTS = ['src', 'tsconfig.json', 'tsconfig.build.json', 'console-ui'];

function newestMtime(path) {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

/** True when dist/ holds a complete build at least as new as every input (no sources at all: an installed copy). */
export function isBuildCurrent() {
  if (!existsSync(STAMP)) return false;
  const built = statSync(STAMP).mtimeMs;
  return INPUTS.every((input) => newestMtime(join(ROOT, input)) <= built);
}

function tscPath() {
  try {
    return createRequire(import.meta.url).resolve('typescript/bin/tsc');
  } catch {
    return undefined;
  }
}

function vitePath() {
  try {
    // The package's exports do not list its bin: find it beside package.json.
    return join(createRequire(import.meta.url).resolve('vite/package.json'), '..', 'bin', 'vite.js');
  } catch {
    return undefined;
  }
}

/** The web console (console-ui/, Preact) bundled by Vite into <out>/console, served under /console/. */
function buildConsole(out) {
  const vite = vitePath();
  if (!vite) throw new Error('the console needs Vite to build: run `npm install` (with dev dependencies), then `npm run build`');
  const r = spawnSync(process.execPath, [vite, 'build', join(ROOT, 'console-ui'), '--outDir', join(out, 'console'), '--emptyOutDir'], { stdio: ['ignore', 'inherit', 'inherit'], cwd: ROOT });
  if (r.status !== 0) throw new Error(`console build failed (exit ${r.status ?? r.signal})`);
}

function compile() {
  const tsc = tscPath();
  if (!tsc) throw new Error('dist/ is missing or out of date and TypeScript is not installed: run `npm install` (with dev dependencies), then `npm run build`');
  // Built beside dist/ then swapped in, so a reader never sees half a build.
  const staging = join(ROOT, `dist.building-${process.pid}`);
  rmSync(staging, { recursive: true, force: true });
  const r = spawnSync(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', staging], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) {
    rmSync(staging, { recursive: true, force: true });
    throw new Error(`TypeScript build failed (exit ${r.status ?? r.signal})`);
  }
  try {
    buildConsole(staging);
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    throw err;
  }
  writeFileSync(join(staging, '.build-stamp'), `${new Date().toISOString()}\n`);
  rmSync(DIST, { recursive: true, force: true });
  renameSync(staging, DIST);
}

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/** The lock names its holder: a lock whose builder died (killed mid-build) is taken over. */
function tryLock() {
  try {
    mkdirSync(LOCK);
    writeFileSync(join(LOCK, 'pid'), String(process.pid));
    return true;
  } catch (err) {
    if (err.code !== 'EEXIST') throw err;
    const pidFile = join(LOCK, 'pid');
    // No pid yet: just created (wait), unless it has been so for long (its creator died at once).
    const abandoned = existsSync(pidFile) ? !isAlive(Number(readFileSync(pidFile, 'utf8'))) : Date.now() - statSync(LOCK).mtimeMs > 10_000;
    if (abandoned) rmSync(LOCK, { recursive: true, force: true });
    return false;
  }
}

const pause = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** Builds unless dist/ is current; `force` rebuilds regardless. Synchronous: runs before anything is imported. */
export function ensureBuilt({ force = false } = {}) {
  if (!force && isBuildCurrent()) return;
  while (!tryLock()) {
    pause(100);
    if (!force && isBuildCurrent()) return;
  }
  try {
    if (force || !isBuildCurrent()) compile();
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  try {
    ensureBuilt({ force: process.argv.includes('--force') });
  } catch (err) {
    console.error(err.message);
    process.exit(1);
  }
}
