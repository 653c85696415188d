# Conveyor worker image (used by docker-compose.yml). Settings come from the environment:
# TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, CONVEYOR_TASK_QUEUE, CONVEYOR_FACTORY (see platform/settings.ts).

# Build: the locked dependencies (dev ones too: the compiler), `npm run build` into dist/, then only
# the production dependencies are kept. better-sqlite3 (N-API) and the Temporal core bridge ship
# prebuilt binaries in their npm packages; the toolchain serves native dependencies a factory adds.
FROM node:24-bookworm-slim AS build
WORKDIR /app
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci && npm cache clean --force
COPY . .
RUN npm run build && npm prune --omit=dev

# The worker runs the built JavaScript: no compiler at run time.
FROM node:24-bookworm-slim
ENV NODE_ENV=production \
    CONVEYOR_DATA_DIR=/app/.conveyor
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
COPY --from=build /app/scripts/bootstrap.js ./scripts/bootstrap.js
# The only place the worker writes; a volume in docker-compose.yml keeps it across restarts.
RUN mkdir -p /app/.conveyor && chown node:node /app/.conveyor
USER node
CMD ["node", "dist/workers/worker.js"]
