// The browser page on http://127.0.0.1: web/'s own files, ONNX Runtime Web from node_modules
// (no CDN: it works offline), the export folder's model.onnx and web.json, and the golden
// preprocessing vectors of tests/golden/ (for the page's check, /?check).
//   node web/serve.mjs runs/baseline/export [--port 8080]
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const WEB = dirname(fileURLToPath(import.meta.url));
const PAGE = ['index.html', 'app.js', 'preprocess.js', 'check.js'];
const MODEL = ['model.onnx', 'web.json'];
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
};

// The file a request path names, or undefined: only the files above are served.
function resolve(path, modelDir) {
  const [, folder, name = ''] = path.match(/^\/(?:([a-z]+)\/)?([\w.-]*)$/) ?? [];
  if (folder === undefined && (name === '' || PAGE.includes(name))) return join(WEB, name || 'index.html');
  if (folder === 'model' && MODEL.includes(name)) return join(modelDir, name);
  if (folder === 'ort' && /^ort[\w.-]*\.(mjs|wasm)$/.test(name)) return join(WEB, 'node_modules', 'onnxruntime-web', 'dist', name);
  if (folder === 'golden' && /^[a-z]+\.json$/.test(name)) return join(WEB, '..', 'tests', 'golden', name);
  return undefined;
}

export function serve(modelDir, port, host = '127.0.0.1') {
  const server = createServer(async (request, response) => {
    const file = resolve(new URL(request.url, 'http://localhost').pathname, modelDir);
    const body = file && (await readFile(file).catch(() => undefined));
    if (!body) {
      response.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
      return;
    }
    response.writeHead(200, {
      'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
      'Cache-Control': 'no-store',
      // Cross-origin isolation: ONNX Runtime Web runs on several threads only with it.
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
    });
    response.end(body);
  });
  return new Promise((ready) => server.listen(port, host, () => ready(server)));
}

// The one-line reason a folder cannot be served, or undefined.
export function problem(modelDir) {
  if (!existsSync(join(WEB, 'node_modules', 'onnxruntime-web'))) return 'web/node_modules is missing: run npm ci --prefix web (make web does)';
  for (const name of MODEL) {
    if (!existsSync(join(modelDir ?? '', name))) return `${join(modelDir ?? '', name)}: not found (make export, then make web, write it)`;
  }
  return undefined;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [modelDir, flag, value] = process.argv.slice(2);
  const port = flag === '--port' ? Number(value) : 8080;
  const reason = modelDir ? problem(modelDir) : 'usage: node web/serve.mjs EXPORT_DIR [--port PORT]';
  if (reason || !Number.isInteger(port)) {
    console.error(`error: ${reason ?? `--port: ${value} is not a port number`}`);
    process.exit(2);
  }
  const server = await serve(modelDir, port);
  console.log(`Serving ${modelDir} on http://127.0.0.1:${server.address().port}/ (Ctrl-C stops)`);
}
