/**
 * Device-group member lists are the one part of the configuration that grows
 * with the fleet (up to admin.maxDeviceGroups × admin.maxGroupDevices ids per
 * tenant). An admin change touches one group, so nothing may walk every list
 * again per change: parsed lists are frozen and remembered as checked, and
 * membership sets are built once per list and shared by every reader.
 */

const checked = new WeakSet<readonly string[]>();
const sets = new WeakMap<readonly string[], ReadonlySet<string>>();

/** A frozen list whose ids were validated: the next parse passes it through without walking it. */
export function markCheckedIdList(list: readonly string[]): void {
  if (Object.isFrozen(list)) checked.add(list);
}

export function isCheckedIdList(value: unknown): boolean {
  return Array.isArray(value) && checked.has(value);
}

/** The list as a set, built once per (frozen) list. */
export function idSetOf(list: readonly string[]): ReadonlySet<string> {
  let set = sets.get(list);
  if (!set) {
    set = new Set(list);
    if (Object.isFrozen(list)) sets.set(list, set);
  }
  return set;
}

/** Same members in the same order; by reference first, since unchanged groups keep their list. */
export function sameIdList(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  if (a === b) return true;
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
