# syntax=docker/dockerfile:1
# paperboy: two stages. `deps` installs production dependencies and compiles the sources into
# dist/ (src/build.ts, esbuild); the runtime image gets node_modules and dist/, no sources, and
# runs as the unprivileged `node` user with its data (the SQLite store) in a volume.

ARG NODE_VERSION=20.20.2

FROM node:${NODE_VERSION}-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Scripts off: the `prepare` build needs the sources, copied next (a layer of its own, so a source
# change does not reinstall the dependencies). esbuild, which builds, is a production dependency.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY tsconfig.json ./
COPY src ./src
RUN npm run build

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
# /healthz and /metrics listen on all interfaces inside the container (publish the port, or not);
# outside a container they default to 127.0.0.1.
# Memory (docs/adr/0008-process-memory.md; `npm run bench -- --only cycle` runs its cycle so):
# MALLOC_ARENA_MAX: glibc gives each thread that allocates (main, search thread, libuv pool) its
# own malloc arena, and freed memory stays in them; two cut the cycle's peak RSS by ~25-40 MB at
# the same speed. MALLOC_MMAP_THRESHOLD_: blocks of 128 KiB and more always mmapped, so freed ones go
# back to the system (glibc otherwise raises the threshold to 32 MiB after the first large free,
# and a heap filled from the store kept ~110 MB of freed holes: 408 MB against 516-546 at 300k
# papers). --max-semi-space-size=4: V8's young generation at a quarter of its default
# (half saved ~40 MB at a 100k-paper cycle's peak for ~8% of its speed, a quarter ~10 MB more for
# ~5% more).
ENV NODE_ENV=production \
    MALLOC_ARENA_MAX=2 \
    MALLOC_MMAP_THRESHOLD_=131072 \
    NODE_OPTIONS=--max-semi-space-size=4 \
    PAPERBOY_STORE_URL=sqlite:///data/paperboy.sqlite \
    PAPERBOY_HTTP_HOST=0.0.0.0 \
    PAPERBOY_HTTP_PORT=8080
WORKDIR /app
COPY --from=deps --chown=root:root /app/node_modules ./node_modules
COPY --from=deps --chown=root:root /app/dist ./dist
COPY --chown=root:root package.json ./
# bin/paperboy.js runs dist/ (with no src/ beside it, nothing can be newer).
COPY --chown=root:root bin ./bin
COPY --chown=root:root config ./config
COPY --chown=root:root seeds ./seeds
# The store lives outside the image; the app's own files stay read-only for the `node` user.
RUN mkdir -p /data && chown node:node /data
VOLUME ["/data"]
USER node
EXPOSE 8080
# node:*-slim has no curl or wget; Node itself asks /healthz (503 → unhealthy).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PAPERBOY_HTTP_PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# SIGTERM from `docker stop` reaches node directly (exec form): paperboy stops within 10 s.
STOPSIGNAL SIGTERM
# --no-parallel-scavenge (Node refuses it in NODE_OPTIONS): each thread collects its young
# generation itself, instead of V8's helper threads taking the core the other JS thread needs;
# ~4% faster on two cores at the same peak (ADR 8, stop 15 addendum).
ENTRYPOINT ["node", "--no-parallel-scavenge", "bin/paperboy.js"]
CMD ["run"]
