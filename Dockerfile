# syntax=docker/dockerfile:1
# paperboy: two stages. `deps` installs production dependencies with the full toolchain;
# the runtime image gets only node_modules and the sources, and runs as the unprivileged
# `node` user with its data (the SQLite store) in a volume.

ARG NODE_VERSION=20.20.2

FROM node:${NODE_VERSION}-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# tsx runs the TypeScript sources, so production dependencies are all the runtime needs.
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production \
    PAPERBOY_STORE_URL=sqlite:///data/paperboy.sqlite
WORKDIR /app
COPY --from=deps --chown=root:root /app/node_modules ./node_modules
COPY --chown=root:root package.json tsconfig.json ./
COPY --chown=root:root bin ./bin
COPY --chown=root:root src ./src
COPY --chown=root:root config ./config
COPY --chown=root:root seeds ./seeds
# The store lives outside the image; the app's own files stay read-only for the `node` user.
RUN mkdir -p /data && chown node:node /data
VOLUME ["/data"]
USER node
ENTRYPOINT ["node", "bin/paperboy.js"]
CMD ["ingest"]
