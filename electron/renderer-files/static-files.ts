// Finding the built renderer's files for a request path, for the bridge's HTTP
// server and the Electron app's app:// protocol. Paths are resolved inside the
// renderer directory only; anything that would leave it is not found.
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
};

export function contentTypeOf(file: string): string {
  return CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}

/**
 * Where Vite puts the renderer (`dist/renderer`), looked for from this module
 * upwards: it works from the sources (electron/bridge) and from the bundles
 * (dist/bridge, dist/main), wherever the checkout is.
 */
export function defaultRendererDir(from: string = path.dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'dist', 'renderer');
    if (existsSync(candidate)) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  // Not built yet: the place it will be, so that the "not built" page can name it.
  return path.resolve(from, '..', '..', 'dist', 'renderer');
}

export function rendererIsBuilt(rendererDir: string): boolean {
  return existsSync(path.join(rendererDir, 'index.html'));
}

export type StaticLookup =
  | { kind: 'file'; file: string; contentType: string; size: number; isIndex: boolean }
  | { kind: 'not_found' }
  | { kind: 'bad_request' };

/**
 * The file for a URL path. Paths without a file extension that match nothing
 * get index.html, so that client-side routes survive a reload.
 */
export function resolveStaticFile(rendererDir: string, urlPath: string): StaticLookup {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return { kind: 'bad_request' };
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return { kind: 'bad_request' };
  const root = path.resolve(rendererDir);
  const index = path.join(root, 'index.html');
  const candidate = path.resolve(root, `.${path.posix.normalize(`/${decoded}`)}`);
  if (candidate !== root && !candidate.startsWith(root + path.sep)) return { kind: 'not_found' };
  const found = fileAt(candidate === root ? index : candidate);
  if (found)
    return {
      kind: 'file',
      file: found.file,
      contentType: contentTypeOf(found.file),
      size: found.size,
      isIndex: found.file === index,
    };
  if (path.extname(candidate) === '') {
    const fallback = fileAt(index);
    if (fallback)
      return { kind: 'file', file: index, contentType: contentTypeOf(index), size: fallback.size, isIndex: true };
  }
  return { kind: 'not_found' };
}

function fileAt(file: string): { file: string; size: number } | undefined {
  try {
    const stat = statSync(file);
    if (stat.isFile()) return { file, size: stat.size };
    if (stat.isDirectory()) {
      const inner = path.join(file, 'index.html');
      const innerStat = statSync(inner);
      if (innerStat.isFile()) return { file: inner, size: innerStat.size };
    }
  } catch {
    // not there
  }
  return undefined;
}
