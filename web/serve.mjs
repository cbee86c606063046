// Serves the web page (web/www/) on 127.0.0.1, and MNIST's four files under /mnist/ from the
// directory `lenet download` fills (LENET_DATA_DIR, else ./data/mnist, as the CLI looks), or
// --mnist DIR. Plain Node, no packages:  node web/serve.mjs [--port 8080] [--mnist DIR]
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(name);
  return at >= 0 && at + 1 < args.length ? args[at + 1] : fallback;
};
const root = join(dirname(fileURLToPath(import.meta.url)), 'www');
const mnist = resolve(option('--mnist', process.env.LENET_DATA_DIR || 'data/mnist'));
const port = Number(option('--port', '8080'));
const types = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript',
  '.css': 'text/css', '.wasm': 'application/wasm', '.json': 'application/json', '.png': 'image/png',
  '.gz': 'application/octet-stream',
};

// The file a URL path names, inside `base` only.
function inside(base, path) {
  const full = normalize(join(base, decodeURIComponent(path)));
  return full.startsWith(base) ? full : null;
}

const server = createServer(async (request, response) => {
  const path = new URL(request.url, 'http://localhost').pathname;
  const file = path.startsWith('/mnist/')
    ? inside(mnist, path.slice('/mnist/'.length))
    : inside(root, path.endsWith('/') ? path + 'index.html' : path);
  try {
    if (!file || !(await stat(file)).isFile()) throw new Error('not a file');
    const body = await readFile(file);
    response.writeHead(200, { 'content-type': types[extname(file)] || 'application/octet-stream', 'cache-control': 'no-store' });
    response.end(body);
  } catch {
    response.writeHead(404, { 'content-type': 'text/plain' });
    response.end(`not found: ${path}\n`);
  }
});
server.listen(port, '127.0.0.1', () => {
  console.log(`serving the page on http://127.0.0.1:${port}/ (MNIST from ${mnist} under /mnist/)`);
});
