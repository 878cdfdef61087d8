/** Fixtures shared by the oci tests. Not part of the build. */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The shape of River's RUN-free image Dockerfile (templates' image context). */
export const RIVER_DOCKERFILE = `# River node image
ARG BASE_IMAGE=node:24-bookworm-slim
FROM \${BASE_IMAGE}
ENV NODE_ENV=production RIVER_PORT=4400
WORKDIR /app
COPY app/ /app/
USER node
EXPOSE 4400
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \\
  CMD ["node", "-e", "process.exit(0)"]
CMD ["node", "server/main.js"]
`;

/** A context as River's image context is laid out: the Dockerfile and app/. */
export async function fixtureContext(dir: string): Promise<string> {
  const ctx = join(dir, 'ctx');
  await mkdir(join(ctx, 'app/server'), { recursive: true });
  await writeFile(join(ctx, 'Dockerfile'), RIVER_DOCKERFILE);
  await writeFile(join(ctx, 'app/package.json'), '{"type":"module"}\n');
  await writeFile(join(ctx, 'app/server/main.js'), 'console.log("river")\n');
  return ctx;
}
