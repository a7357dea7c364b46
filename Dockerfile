FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY bin ./bin
COPY cli ./cli
COPY src ./src
COPY tsconfig.json ./
USER node
ENTRYPOINT ["node", "bin/hooksync.js"]
