# One image for every durapay process (api, worker, migrate); docker-compose.yml picks the command.
# Debian, not Alpine: the Temporal SDK's native core has no musl build.
FROM node:20.20.2-bookworm-slim

WORKDIR /app
ENV NODE_ENV=production \
    API_HOST=0.0.0.0 \
    API_PORT=3000 \
    PATH=/app/node_modules/.bin:$PATH

# Dependencies in their own layer so a code change does not reinstall them.
# tsx is a runtime dependency: the TypeScript runs as is, there is no build step.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund \
    && npm cache clean --force

# Code stays root-owned (read-only to the app); only the data dir is writable.
COPY . .
RUN mkdir -p /app/.data && chown node:node /app/.data

USER node
EXPOSE 3000
CMD ["tsx", "api/main.ts"]
