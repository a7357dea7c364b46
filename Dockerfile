# syntax=docker/dockerfile:1
# hooksync's image: the compiled code (dist/, with the workflow bundle) and production
# dependencies only; no TypeScript, tsx, embedded PostgreSQL or Temporal test server.
#   docker build -t hooksync .
#   docker run --rm hooksync --help

ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# No install scripts: the build needs none (the production stage installs again, for its own deps).
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY src ./src
COPY cli ./cli
RUN npm run build

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts && npm cache clean --force

FROM ${NODE_IMAGE}
# tini as PID 1: it forwards SIGTERM to node (which then stops within its grace period) and reaps zombies.
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini ca-certificates \
  && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    PORT=8080 \
    HOOKSYNC_WORKER_METRICS_PORT=9464
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin/hooksync.js bin/build-stamp.js bin/healthcheck.js ./bin/
USER node
EXPOSE 8080 9464
# The API's /healthz on PORT, or the worker's on HOOKSYNC_WORKER_METRICS_PORT (bin/healthcheck.js).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 CMD ["node", "bin/healthcheck.js"]
ENTRYPOINT ["/usr/bin/tini", "--", "node", "bin/hooksync.js"]
CMD ["--help"]
