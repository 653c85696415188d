# Conveyor worker image (used by docker-compose.yml). Settings come from the environment:
# TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, CONVEYOR_TASK_QUEUE (see platform/settings.ts).

# Dependencies: better-sqlite3 (N-API) and the Temporal core bridge are native modules whose prebuilt
# binaries ship inside their npm packages; the toolchain serves native dependencies a factory adds.
FROM node:24-bookworm-slim AS deps
WORKDIR /app
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force

FROM node:24-bookworm-slim
ENV NODE_ENV=production \
    CONVEYOR_DATA_DIR=/app/.conveyor
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY . .
# The only place the worker writes; a volume in docker-compose.yml keeps it across restarts.
RUN mkdir -p /app/.conveyor && chown node:node /app/.conveyor
USER node
CMD ["npx", "tsx", "workers/worker.ts"]
