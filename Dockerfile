# ThingIQ Gateway: compiled JavaScript on Node 20, run as an unprivileged user.
# No key, certificate or secret is baked in: the CA, the root key, the
# session-ticket and idempotency secrets and the config are mounted at run
# time (docker-compose.yml, docs/scaling.md).

# --- build: install everything, compile src/ and the console to dist/, keep production modules only
FROM node:20.19-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 falls back to a source build when no prebuilt binary fits.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
COPY bin ./bin
# The prepare script builds; the sources are copied first so it has something to compile.
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY proto ./proto
COPY console-ui ./console-ui
RUN npm ci --no-audit --no-fund \
 && node bin/build.js \
 && npm prune --omit=dev --no-audit --no-fund

# --- run: dist/, bin/, proto/ and production node_modules; no sources, no compiler
FROM node:20.19-bookworm-slim AS run
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build --chown=root:root /app/package.json /app/package-lock.json ./
COPY --from=build --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/bin ./bin
COPY --from=build --chown=root:root /app/dist ./dist
COPY --from=build --chown=root:root /app/proto ./proto
# The data directory belongs to the unprivileged user; the code does not.
RUN mkdir -p /var/lib/thingiq /var/lib/thingiq-keys /etc/thingiq \
 && chown node:node /var/lib/thingiq /var/lib/thingiq-keys \
 && chmod 0700 /var/lib/thingiq /var/lib/thingiq-keys
USER node
VOLUME ["/var/lib/thingiq", "/var/lib/thingiq-keys"]
# MQTT over mutual TLS, admin API (bearer tokens), admin API (client certificates).
EXPOSE 8883 8443 8444
# SIGTERM drains in-flight messages before the process exits.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "bin/thingiq.js"]
CMD ["--config", "/etc/thingiq/gateway.yaml", "start"]
