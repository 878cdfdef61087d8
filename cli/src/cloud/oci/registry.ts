/**
 * A small OCI distribution (registry v2 API) client over fetch: manifests (Docker v2 and OCI,
 * manifests and indexes), blob HEAD/GET, blob uploads (POST, then one PUT for a small blob or
 * PATCH chunks then PUT with the digest), manifest PUT. Auth follows the registry's
 * WWW-Authenticate challenge: anonymous, Bearer tokens from the challenge's realm (Docker Hub,
 * public.ecr.aws), or Basic (ECR: user AWS and the GetAuthorizationToken password). Blobs stream
 * through in chunks of `chunkSize`; no blob is held in memory whole.
 */
import { createHash } from 'node:crypto';
import { registryBaseUrl } from './reference.js';

export const MEDIA = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

const MANIFEST_ACCEPT = [MEDIA.ociIndex, MEDIA.dockerList, MEDIA.ociManifest, MEDIA.dockerManifest].join(', ');

export interface RegistryAuth {
  username: string;
  password: string;
}

export class RegistryError extends Error {
  readonly code = 'registry_error';
  readonly status: number | undefined;
  constructor(message: string, status?: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RegistryError';
    this.status = status;
  }
}

export interface RegistryClientOptions {
  /** host[:port], as in an image reference. */
  registry: string;
  /** Credentials for Basic auth, or to ask the token realm with. Absent: anonymous. */
  auth?: RegistryAuth;
  /** Ask for push as well as pull (the target registry). */
  push?: boolean;
  fetch?: typeof fetch;
  /** Default: http for loopback registries, https otherwise. */
  baseUrl?: string;
}

export interface Manifest {
  mediaType: string;
  bytes: Buffer;
  digest: string;
}

function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** `Bearer realm="…",service="…",scope="…"` into its scheme and parameters. */
export function parseChallenge(header: string): { scheme: string; params: Record<string, string> } {
  const m = /^(\w+)\s*(.*)$/s.exec(header.trim());
  const params: Record<string, string> = {};
  if (!m) return { scheme: '', params };
  const re = /([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  for (let p = re.exec(m[2]!); p; p = re.exec(m[2]!)) params[p[1]!.toLowerCase()] = (p[2] ?? p[3] ?? '').replace(/\\(.)/g, '$1');
  return { scheme: m[1]!.toLowerCase(), params };
}

/** Counts the bytes that pass, reporting at most every `every` bytes. */
async function* counting(
  source: AsyncIterable<Uint8Array>,
  onBytes: ((sent: number) => void) | undefined,
  every = 4 * 1024 * 1024,
): AsyncGenerator<Uint8Array> {
  let sent = 0;
  let reported = 0;
  for await (const chunk of source) {
    sent += chunk.byteLength;
    if (onBytes && sent - reported >= every) {
      reported = sent;
      onBytes(sent);
    }
    yield chunk;
  }
  onBytes?.(sent);
}

function toWebStream(source: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> {
  const it = source[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await it.next();
      if (next.done) controller.close();
      else controller.enqueue(next.value);
    },
    async cancel(reason) {
      await it.return?.(reason);
    },
  });
}

export class RegistryClient {
  readonly registry: string;
  private readonly base: string;
  private readonly fetch: typeof fetch;
  private readonly actions: string;
  /** Authorization header per repository scope, once a challenge was answered. */
  private readonly authz = new Map<string, string>();

  constructor(private readonly opts: RegistryClientOptions) {
    this.registry = opts.registry;
    this.base = opts.baseUrl ?? registryBaseUrl(opts.registry);
    this.fetch = opts.fetch ?? globalThis.fetch;
    this.actions = opts.push ? 'pull,push' : 'pull';
  }

  private url(path: string): string {
    return /^https?:\/\//.test(path) ? path : `${this.base}${path}`;
  }

  /** One request with the repository's credentials; a 401 answers the challenge once and retries. */
  private async request(
    repo: string,
    method: string,
    path: string,
    init: { headers?: Record<string, string>; body?: Buffer | ReadableStream<Uint8Array>; redirect?: 'follow' | 'manual' } = {},
  ): Promise<Response> {
    const send = () => {
      const headers: Record<string, string> = { ...init.headers };
      const a = this.authz.get(repo);
      if (a) headers.authorization = a;
      const body = init.body ? { body: init.body, ...(init.body instanceof ReadableStream ? { duplex: 'half' } : {}) } : {};
      return this.fetch(this.url(path), { method, headers, redirect: init.redirect ?? 'follow', ...body } as RequestInit);
    };
    let res = await send();
    if (res.status === 401) {
      const challenge = res.headers.get('www-authenticate');
      await res.body?.cancel();
      if (!challenge) throw new RegistryError(`${this.registry}: 401 without a WWW-Authenticate challenge`, 401);
      if (init.body instanceof ReadableStream)
        throw new RegistryError(`${this.registry}/${repo}: the credentials were refused during an upload (expired?)`, 401);
      await this.answer(repo, challenge);
      res = await send();
      if (res.status === 401 || res.status === 403) {
        await res.body?.cancel();
        throw new RegistryError(
          `${this.registry}/${repo}: access refused (${res.status}) ${this.opts.auth ? 'with the given credentials' : 'anonymously'}`,
          res.status,
        );
      }
    }
    return res;
  }

  private async answer(repo: string, header: string): Promise<void> {
    const { scheme, params } = parseChallenge(header);
    const basic = this.opts.auth
      ? `Basic ${Buffer.from(`${this.opts.auth.username}:${this.opts.auth.password}`).toString('base64')}`
      : undefined;
    if (scheme === 'basic') {
      if (!basic) throw new RegistryError(`${this.registry} wants credentials (Basic) and none were given`, 401);
      this.authz.set(repo, basic);
      return;
    }
    if (scheme !== 'bearer' || !params.realm)
      throw new RegistryError(`${this.registry}: unsupported auth challenge "${header.slice(0, 80)}"`, 401);
    const url = new URL(params.realm);
    if (params.service) url.searchParams.set('service', params.service);
    url.searchParams.set('scope', `repository:${repo}:${this.actions}`);
    const res = await this.fetch(url, { headers: basic ? { authorization: basic } : {} });
    if (!res.ok) {
      await res.body?.cancel();
      throw new RegistryError(`${this.registry}: the token service ${url.origin} refused (${res.status})`, res.status);
    }
    const body = (await res.json()) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (!token) throw new RegistryError(`${this.registry}: the token service answered without a token`);
    this.authz.set(repo, `Bearer ${token}`);
  }

  private async fail(res: Response, what: string): Promise<never> {
    const text = (await res.text().catch(() => '')).slice(0, 300).trim();
    throw new RegistryError(`${what}: ${res.status} ${res.statusText}${text ? ` ${text}` : ''}`, res.status);
  }

  async getManifest(repo: string, reference: string): Promise<Manifest> {
    const res = await this.request(repo, 'GET', `/v2/${repo}/manifests/${reference}`, { headers: { accept: MANIFEST_ACCEPT } });
    if (!res.ok) await this.fail(res, `GET manifest ${this.registry}/${repo}:${reference}`);
    const bytes = Buffer.from(await res.arrayBuffer());
    const digest = sha256(bytes);
    if (reference.startsWith('sha256:') && digest !== reference)
      throw new RegistryError(`manifest ${reference} arrived with digest ${digest}`);
    const parsed = JSON.parse(bytes.toString('utf8')) as { mediaType?: string };
    const mediaType = parsed.mediaType ?? res.headers.get('content-type')?.split(';')[0] ?? MEDIA.ociManifest;
    return { mediaType, bytes, digest };
  }

  /** Whether `reference` (a tag or digest) exists (HEAD on the manifest). */
  async manifestExists(repo: string, reference: string): Promise<boolean> {
    const res = await this.request(repo, 'HEAD', `/v2/${repo}/manifests/${reference}`, { headers: { accept: MANIFEST_ACCEPT } });
    await res.body?.cancel();
    if (res.status === 404) return false;
    if (res.ok) return true;
    throw new RegistryError(`HEAD manifest ${this.registry}/${repo}:${reference}: ${res.status}`, res.status);
  }

  async blobExists(repo: string, digest: string): Promise<boolean> {
    const res = await this.request(repo, 'HEAD', `/v2/${repo}/blobs/${digest}`);
    await res.body?.cancel();
    if (res.status === 404) return false;
    if (res.ok) return true;
    throw new RegistryError(`HEAD blob ${this.registry}/${repo}@${digest}: ${res.status}`, res.status);
  }

  /** The blob's bytes as a stream. Redirects (to a CDN or S3) are followed without the registry's credentials. */
  async getBlob(repo: string, digest: string): Promise<AsyncIterable<Uint8Array>> {
    let res = await this.request(repo, 'GET', `/v2/${repo}/blobs/${digest}`, { redirect: 'manual' });
    for (let hops = 0; res.status >= 300 && res.status < 400 && hops < 5; hops++) {
      const location = res.headers.get('location');
      await res.body?.cancel();
      if (!location) throw new RegistryError(`GET blob ${digest}: redirect without a location`, res.status);
      res = await this.fetch(new URL(location, res.url || this.url(`/v2/${repo}/blobs/${digest}`)), { redirect: 'manual' });
    }
    if (!res.ok || !res.body) await this.fail(res, `GET blob ${this.registry}/${repo}@${digest}`);
    return res.body as unknown as AsyncIterable<Uint8Array>;
  }

  /** A small blob (an image config) whole, its digest checked. */
  async getBlobBytes(repo: string, digest: string): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const c of await this.getBlob(repo, digest)) parts.push(Buffer.from(c));
    const bytes = Buffer.concat(parts);
    if (sha256(bytes) !== digest) throw new RegistryError(`blob ${digest} arrived with digest ${sha256(bytes)}`);
    return bytes;
  }

  private nextLocation(res: Response, current: string): string {
    const loc = res.headers.get('location');
    if (!loc) throw new RegistryError(`${this.registry}: upload answered ${res.status} without a Location`, res.status);
    return new URL(loc, this.url(current)).toString();
  }

  private withDigest(location: string, digest: string): string {
    const u = new URL(location);
    u.searchParams.set('digest', digest);
    return u.toString();
  }

  /**
   * Uploads a blob with the given digest from bytes or a stream, as docker, jib and go-containerregistry
   * do: POST to open the upload, one PATCH streaming the bytes (chunked transfer encoding for a stream),
   * then PUT with the digest. The registry checks the digest. Returns the bytes sent.
   */
  async uploadBlob(
    repo: string,
    digest: string,
    source: Buffer | AsyncIterable<Uint8Array>,
    onBytes?: (sent: number) => void,
  ): Promise<number> {
    const start = await this.request(repo, 'POST', `/v2/${repo}/blobs/uploads/`);
    if (start.status !== 202) await this.fail(start, `start upload to ${this.registry}/${repo}`);
    await start.body?.cancel();
    let location = this.nextLocation(start, `/v2/${repo}/blobs/uploads/`);
    let sent = 0;
    const body = Buffer.isBuffer(source)
      ? source
      : toWebStream(
          counting(source, (n) => {
            sent = n;
            onBytes?.(n);
          }),
        );
    const patch = await this.request(repo, 'PATCH', location, { headers: { 'content-type': 'application/octet-stream' }, body });
    if (patch.status !== 202) await this.fail(patch, `upload ${digest} to ${this.registry}/${repo}`);
    await patch.body?.cancel();
    location = this.nextLocation(patch, location);
    if (Buffer.isBuffer(source)) {
      sent = source.length;
      onBytes?.(sent);
    }
    const res = await this.request(repo, 'PUT', this.withDigest(location, digest));
    if (res.status !== 201) await this.fail(res, `finish upload of ${digest} to ${this.registry}/${repo}`);
    await res.body?.cancel();
    return sent;
  }

  async putManifest(repo: string, reference: string, mediaType: string, bytes: Buffer): Promise<string> {
    const res = await this.request(repo, 'PUT', `/v2/${repo}/manifests/${reference}`, {
      headers: { 'content-type': mediaType },
      body: bytes,
    });
    if (res.status !== 201 && res.status !== 200) await this.fail(res, `PUT manifest ${this.registry}/${repo}:${reference}`);
    await res.body?.cancel();
    return sha256(bytes);
  }
}
