# Dolly's apps (api, projector, worker) and its migration (dist/libs/persistence/src/migrate.js) in
# one image; docker-compose.yml picks which by command.
FROM node:20-bookworm-slim AS build
WORKDIR /dolly
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json nest-cli.json ./
COPY apps apps
COPY libs libs
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
# The worker drives QEMU's block layer: qemu-img, qemu-io, qemu-nbd, qemu-storage-daemon.
RUN apt-get update -qq \
  && apt-get install -y -qq --no-install-recommends qemu-utils qemu-system-common libnbd-bin \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /dolly
COPY --from=build /dolly/node_modules node_modules
COPY --from=build /dolly/dist dist
COPY package.json ./
USER node
ENV NODE_ENV=production
CMD ["node", "--initial-old-space-size=96", "--max-semi-space-size=4", "--expose-gc", "dist/apps/api/src/main.js"]
