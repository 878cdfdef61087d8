/**
 * Image references resolved as docker does: `node:24` is `registry-1.docker.io/library/node:24`,
 * `user/app` is on Docker Hub, a first component with a dot or a port (or `localhost`) is a registry.
 */
export interface ImageRef {
  /** host[:port] to talk to (Docker Hub's API host for docker.io). */
  registry: string;
  repository: string;
  /** A tag or a digest (`sha256:…`). */
  reference: string;
}

export const DOCKER_HUB = 'registry-1.docker.io';

export function parseImageRef(text: string): ImageRef {
  let rest = text.trim();
  let reference = 'latest';
  const at = rest.indexOf('@');
  if (at >= 0) {
    reference = rest.slice(at + 1);
    rest = rest.slice(0, at);
  } else {
    const colon = rest.lastIndexOf(':');
    if (colon > rest.lastIndexOf('/')) {
      reference = rest.slice(colon + 1);
      rest = rest.slice(0, colon);
    }
  }
  const slash = rest.indexOf('/');
  const first = slash >= 0 ? rest.slice(0, slash) : '';
  let registry: string;
  let repository: string;
  if (slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    registry = first;
    repository = rest.slice(slash + 1);
  } else {
    registry = DOCKER_HUB;
    repository = slash >= 0 ? rest : `library/${rest}`;
  }
  if (registry === 'docker.io' || registry === 'index.docker.io') {
    registry = DOCKER_HUB;
    if (!repository.includes('/')) repository = `library/${repository}`;
  }
  if (repository === '' || !/^[a-z0-9][a-z0-9._-]*(\/[a-z0-9][a-z0-9._-]*)*$/.test(repository)) {
    throw new Error(`"${text}" is not an image reference`);
  }
  return { registry, repository, reference };
}

export function formatRef(ref: ImageRef): string {
  return `${ref.registry}/${ref.repository}${ref.reference.includes(':') ? '@' : ':'}${ref.reference}`;
}

/** Loopback registries are spoken to over plain HTTP (as docker treats localhost as insecure); the rest over HTTPS. */
export function registryBaseUrl(registry: string): string {
  const host = registry.replace(/:\d+$/, '');
  const plain = host === 'localhost' || /^127\./.test(host) || host === '[::1]';
  return `${plain ? 'http' : 'https'}://${registry}`;
}
