# users-api in a container: `docker build -t users-api .`, or `docker compose up` (compose.yaml).
# The build stage compiles sqlite3 and the TypeScript (SWC, scripts/build.js); the runtime stage has neither compilers nor dev
# dependencies, runs as the unprivileged `node` user, and runs node itself as PID 1, so SIGTERM reaches
# the server, which stops taking connections, finishes the requests in flight and closes the database.

ARG NODE_VERSION=24

FROM node:${NODE_VERSION}-bookworm-slim AS build
# sqlite3 is compiled from source (.prebuild-installrc: no prebuilt download): node-gyp needs python3,
# make and a C++ compiler, and takes the Node headers from the image (npm_config_nodedir) instead of
# downloading them.
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
ENV npm_config_nodedir=/usr/local
WORKDIR /app
COPY package.json package-lock.json .npmrc .prebuild-installrc ./
COPY scripts/complete-lockfile.js scripts/
RUN npm ci
COPY scripts/build.js scripts/
COPY ormconfig.ts ./
COPY src/ src/
RUN npm run build && npm prune --omit=dev

FROM node:${NODE_VERSION}-bookworm-slim
ENV NODE_ENV=production \
  HOST=0.0.0.0 \
  PORT=4000 \
  DATA_DIR=/app/data
WORKDIR /app
# The code and the dependencies belong to root and are read-only for the server; it writes only to
# DATA_DIR (the SQLite file and a generated JWT secret when DATABASE_URL and JWT_SECRET are not set).
RUN mkdir -p /app/data && chown node:node /app/data
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules/ node_modules/
COPY --from=build /app/dist/ dist/
USER node
EXPOSE 4000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 4000) + '/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# No entry point (the base image's docker-entrypoint.sh is dropped): CMD is exactly what runs, as PID 1.
# It is npm start's command (package.json) without npm: the same heap limit, and node gets the signals.
ENTRYPOINT []
CMD ["node", "--max-old-space-size=512", "dist/src/main.js"]
