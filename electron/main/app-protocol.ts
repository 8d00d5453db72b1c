// The app:// scheme that serves the built renderer to the window: a standard,
// secure origin of its own (app://partwise) instead of file://, which would
// give the page the whole file system as its origin.
import fs from 'node:fs/promises';
import { protocol } from 'electron';
import { contentSecurityPolicy, SECURITY_HEADERS } from '../renderer-files/content-security-policy.js';
import { rendererIsBuilt, resolveStaticFile } from '../renderer-files/static-files.js';
import { APP_HOST, APP_SCHEME } from './trust.js';

/** Must run before the app is ready. */
export function registerAppScheme(): void {
  protocol.registerSchemesAsPrivileged([
    { scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true } },
  ]);
}

function respond(status: number, body: string | Blob, contentType: string, cache = 'no-store'): Response {
  return new Response(body, {
    status,
    headers: {
      ...SECURITY_HEADERS,
      'Content-Security-Policy': contentSecurityPolicy(),
      'Content-Type': contentType,
      'Cache-Control': cache,
    },
  });
}

export function serveRenderer(rendererDir: string): void {
  protocol.handle(APP_SCHEME, async (request) => {
    const url = new URL(request.url);
    if (url.host !== APP_HOST) return respond(404, 'Not found.', 'text/plain; charset=utf-8');
    if (request.method !== 'GET' && request.method !== 'HEAD')
      return respond(405, 'Method not allowed.', 'text/plain; charset=utf-8');
    if (!rendererIsBuilt(rendererDir)) {
      return respond(
        503,
        `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Partwise</title></head><body>` +
          `<h1>The Partwise renderer is not built</h1><p>Run <code>npm run build</code> and start Partwise again.</p></body></html>`,
        'text/html; charset=utf-8',
      );
    }
    const found = resolveStaticFile(rendererDir, url.pathname);
    if (found.kind === 'bad_request') return respond(400, 'Bad request.', 'text/plain; charset=utf-8');
    if (found.kind === 'not_found') return respond(404, 'Not found.', 'text/plain; charset=utf-8');
    const body = new Blob([await fs.readFile(found.file)]);
    return respond(200, body, found.contentType, found.isIndex ? 'no-store' : 'public, max-age=31536000, immutable');
  });
}
