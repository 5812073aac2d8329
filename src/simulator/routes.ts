/**
 * Plausible vehicle routes and sensor readings for the simulator: each
 * vehicle drives from a start point with a speed and heading that drift, the
 * way a delivery van moves through a city.
 */
export interface VehicleState {
  latitude: number;
  longitude: number;
  speedMps: number;
  headingDeg: number;
  sequence: number;
  tripId: string;
}

const EARTH_RADIUS_M = 6_371_008.8;
const CITIES: readonly [number, number][] = [[48.8566, 2.3522], [52.52, 13.405], [51.5074, -0.1278], [45.4642, 9.19], [40.4168, -3.7038]];

export function startVehicle(index: number, random: () => number = Math.random): VehicleState {
  const [lat, lon] = CITIES[index % CITIES.length]!;
  return {
    latitude: lat + (random() - 0.5) * 0.05,
    longitude: lon + (random() - 0.5) * 0.05,
    speedMps: 8 + random() * 6,
    headingDeg: random() * 360,
    sequence: 0,
    tripId: `trip-${index}-${Math.floor(random() * 1e6)}`,
  };
}

/** Moves the vehicle by `dtS` seconds along its heading, with small turns and speed changes. */
export function advance(v: VehicleState, dtS: number, random: () => number = Math.random): VehicleState {
  const heading = (v.headingDeg + (random() - 0.5) * 30 + 360) % 360;
  const speed = Math.min(30, Math.max(0, v.speedMps + (random() - 0.5) * 2));
  const d = (speed * dtS) / EARTH_RADIUS_M;
  const lat1 = (v.latitude * Math.PI) / 180;
  const lon1 = (v.longitude * Math.PI) / 180;
  const th = (heading * Math.PI) / 180;
  const lat2 = Math.asin(Math.sin(lat1) * Math.cos(d) + Math.cos(lat1) * Math.sin(d) * Math.cos(th));
  const lon2 = lon1 + Math.atan2(Math.sin(th) * Math.sin(d) * Math.cos(lat1), Math.cos(d) - Math.sin(lat1) * Math.sin(lat2));
  return {
    ...v,
    latitude: (lat2 * 180) / Math.PI,
    longitude: ((((lon2 * 180) / Math.PI) + 540) % 360) - 180,
    speedMps: speed,
    headingDeg: heading,
    sequence: v.sequence + 1,
  };
}

export function vehicleMessage(v: VehicleState, nowMs: number): Record<string, unknown> {
  return {
    timeUnixMs: nowMs, sequence: v.sequence, latitude: v.latitude, longitude: v.longitude,
    speedMps: v.speedMps, headingDeg: v.headingDeg, accuracyM: 5, altitudeM: 35, tripId: v.tripId,
  };
}

export function sensorMessage(sequence: number, nowMs: number, random: () => number = Math.random): Record<string, unknown> {
  return {
    timeUnixMs: nowMs, sequence,
    measurements: [
      { name: 'cargo_temperature', value: Math.round((3 + random() * 2) * 10) / 10, unit: 'Cel' },
      { name: 'battery', value: Math.round(60 + random() * 40), unit: '%' },
    ],
  };
}
