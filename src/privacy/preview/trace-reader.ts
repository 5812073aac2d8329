/**
 * Recorded traces for `thingiq policy preview`: NDJSON of VehicleLocation in
 * the proto3 JSON mapping (lowerCamelCase or the .proto's snake_case names;
 * int64 as number or string), or GPX 1.1 track/route/way points.
 */
import { TiqError } from '../../errors.ts';

export type TraceBody = Record<string, unknown>;

const SNAKE_TO_CAMEL: Record<string, string> = {
  time_unix_ms: 'timeUnixMs', altitude_m: 'altitudeM', speed_mps: 'speedMps', heading_deg: 'headingDeg',
  accuracy_m: 'accuracyM', trip_id: 'tripId', private_mode: 'privateMode',
};

function toBody(raw: Record<string, unknown>): TraceBody {
  const body: TraceBody = {};
  for (const [k, v] of Object.entries(raw)) body[SNAKE_TO_CAMEL[k] ?? k] = v;
  for (const k of ['timeUnixMs', 'sequence']) if (typeof body[k] === 'string') body[k] = Number(body[k]);
  return body;
}

export function readNdjsonTrace(text: string): TraceBody[] {
  const out: TraceBody[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let v: unknown;
    try { v = JSON.parse(line); } catch { throw new TiqError('TIQ_ERR_DECODE', `trace line ${i + 1} is not JSON`); }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new TiqError('TIQ_ERR_DECODE', `trace line ${i + 1} is not an object`);
    out.push(toBody(v as Record<string, unknown>));
  });
  return out;
}

const attr = (tag: string, name: string): number | undefined => {
  const m = new RegExp(`\\b${name}\\s*=\\s*["']([^"']+)["']`).exec(tag);
  return m?.[1] !== undefined ? Number(m[1]) : undefined;
};
const child = (inner: string, name: string): string | undefined => new RegExp(`<${name}>([^<]*)</${name}>`).exec(inner)?.[1]?.trim();

export function readGpxTrace(text: string): TraceBody[] {
  const out: TraceBody[] = [];
  const re = /<(trkpt|rtept|wpt)\b([^>]*?)(?:\/>|>([\s\S]*?)<\/\1>)/g;
  let seq = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const lat = attr(m[2] ?? '', 'lat'), lon = attr(m[2] ?? '', 'lon');
    if (lat === undefined || lon === undefined || !Number.isFinite(lat) || !Number.isFinite(lon)) continue;
    const inner = m[3] ?? '';
    const body: TraceBody = { sequence: ++seq, latitude: lat, longitude: lon };
    const time = child(inner, 'time');
    if (time && Number.isFinite(Date.parse(time))) body.timeUnixMs = Date.parse(time);
    const ele = child(inner, 'ele');
    if (ele !== undefined && Number.isFinite(Number(ele))) body.altitudeM = Number(ele);
    out.push(body);
  }
  return out;
}

export function readTrace(text: string): TraceBody[] {
  return text.trimStart().startsWith('<') ? readGpxTrace(text) : readNdjsonTrace(text);
}
