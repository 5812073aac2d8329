// Module resolve hook for aedes-v1-register.ts: `aedes` -> `aedes-v1`.
export async function resolve(specifier, context, next) {
  return next(specifier === 'aedes' ? 'aedes-v1' : specifier, context);
}
