/**
 * Ports for `npm run example`: a taken port is told plainly (which one, and what to do), never a
 * stack trace, and the forum's own default port gives way to a free one.
 */
import type { Server } from 'node:http';

/** `listen EADDRINUSE`, also when wrapped (River's ConfigError keeps it as `cause`). */
export function isPortTaken(err: unknown): boolean {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if ((e as { code?: unknown }).code === 'EADDRINUSE') return true;
  }
  return false;
}

function listenOnce(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => {
      server.off('listening', onListening);
      reject(err);
    };
    const onListening = () => {
      server.off('error', onError);
      const a = server.address();
      resolve(typeof a === 'object' && a ? a.port : port);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}

/**
 * Listens on `host:port`. When that port is taken and `fallback` is true (the port was a default,
 * not the user's choice), listens on a free port instead. Rejects with the EADDRINUSE error otherwise.
 */
export async function listenOn(
  server: Server,
  port: number,
  host: string,
  fallback: boolean,
): Promise<{ port: number; fellBack: boolean }> {
  try {
    return { port: await listenOnce(server, port, host), fellBack: false };
  } catch (err) {
    if (!fallback || !isPortTaken(err)) throw err;
    return { port: await listenOnce(server, 0, host), fellBack: true };
  }
}
