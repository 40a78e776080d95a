# anonymise-dump as a container: `docker build -t anonymise-dump .` (or `npm run image`, which builds it
# with buildah and no registry). Entrypoint: anonymise-dump; runs as the unprivileged user node (1000).
#   docker run --rm -i -e ANONYMISE_DUMP_SECRET -v "$PWD:/work" anonymise-dump -r /work/rules.yaml < prod.sql > safe.sql
# BASE: any image with Node 24 and npm at /usr/local/bin and a user `node` (the official node image is one).
ARG BASE=node:24-bookworm-slim

FROM ${BASE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# behind a proxy that re-signs TLS, hand its CA bundle in as the build secret npm_ca (npm run image does)
RUN --mount=type=secret,id=npm_ca \
    if [ -s /run/secrets/npm_ca ]; then export npm_config_cafile=/run/secrets/npm_ca; fi; \
    npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/bundle.mjs scripts/code-cache.mjs scripts/
COPY src src
# the build ends with a run over the bundled sample, whose compiled code it keeps (V8's code cache,
# made by this image's own Node, so that the image takes it): bin, the presets and the sample for that
COPY bin bin
COPY rules rules
COPY fixtures/sample/sample.sql fixtures/sample/sample.dump fixtures/sample/
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM ${BASE}
ENV NODE_ENV=production
WORKDIR /opt/anonymise-dump
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules node_modules
COPY --from=build /src/dist dist
COPY bin bin
COPY rules rules
RUN ln -s /opt/anonymise-dump/bin/anonymise-dump.js /usr/local/bin/anonymise-dump && anonymise-dump --version
USER node
WORKDIR /work
ENTRYPOINT ["anonymise-dump"]
CMD ["--help"]
