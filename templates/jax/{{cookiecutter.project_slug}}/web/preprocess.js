// The preprocessing of docs/preprocessing.md in JavaScript: a raw example to the model's inputs,
// exactly as Preprocessor.encode makes them (`make web-test` checks it on tests/golden/).
// `encode(preprocessing, raw)` returns {name: {type, data, dims}} for a batch of one.
{%- if cookiecutter.task == "image" %}

// Pillow's BILINEAR resize: fixed-point coefficients with 22 fractional bits, the horizontal
// pass first, each pass rounded to 8 bits (Pillow's src/libImaging/Resample.c).
const PRECISION_BITS = 22;

export async function encode(preprocessing, file) {
  const { width, height, rgb } = await decodeRgb(file);
  const size = preprocessing.image_size;
  return { image: { type: 'float32', data: toFloat(resize(rgb, width, height, size, size)), dims: [1, size, size, 3] } };
}

export function toFloat(pixels) {
  return Float32Array.from(pixels, (value) => value / 255);
}

// A file (Blob) to 8-bit RGB as Pillow's Image.convert("RGB") gives it. PNG is decoded here
// (the browser's decoder blends or premultiplies alpha, which Pillow drops); other formats
// (JPEG) by the browser.
export async function decodeRgb(file) {
  const bytes = new Uint8Array(await file.arrayBuffer());
  if (isPng(bytes)) return decodePng(bytes);
  const bitmap = await createImageBitmap(file, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = canvas.getContext('2d', { willReadFrequently: true });
  context.drawImage(bitmap, 0, 0);
  const rgba = context.getImageData(0, 0, bitmap.width, bitmap.height).data;
  const rgb = new Uint8Array(bitmap.width * bitmap.height * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) rgb.set(rgba.subarray(i, i + 3), j);
  return { width: bitmap.width, height: bitmap.height, rgb };
}

const PNG_SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];
const CHANNELS = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

function isPng(bytes) {
  return PNG_SIGNATURE.every((byte, i) => bytes[i] === byte);
}

async function decodePng(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let header;
  let palette;
  const compressed = [];
  for (let at = 8; at + 8 <= bytes.length;) {
    const length = view.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    const data = bytes.subarray(at + 8, at + 8 + length);
    if (type === 'IHDR') {
      header = { width: view.getUint32(at + 8), height: view.getUint32(at + 12), depth: data[8], color: data[9], interlace: data[12] };
    } else if (type === 'PLTE') palette = data;
    else if (type === 'IDAT') compressed.push(data);
    else if (type === 'IEND') break;
    at += length + 12;
  }
  if (!header) throw new Error('not a PNG image');
  const { width, height, depth, color, interlace } = header;
  if (depth === 16 || interlace) throw new Error('16-bit and interlaced PNG images are not supported here');
  const channels = CHANNELS[color];
  const stride = Math.ceil((width * channels * depth) / 8);
  const raw = await inflate(compressed);
  const rows = unfilter(raw, stride, height, Math.max(1, (channels * depth) >> 3));
  const rgb = new Uint8Array(width * height * 3);
  const gray = 255 / (2 ** depth - 1);
  for (let y = 0; y < height; y++) {
    const row = rows.subarray(y * stride, (y + 1) * stride);
    for (let x = 0; x < width; x++) {
      const out = (y * width + x) * 3;
      if (depth < 8) {
        const bit = x * depth;
        const value = (row[bit >> 3] >> (8 - depth - (bit & 7))) & (2 ** depth - 1);
        if (color === 3) rgb.set(palette.subarray(value * 3, value * 3 + 3), out);
        else rgb.fill(Math.round(value * gray), out, out + 3);
      } else if (color === 3) {
        rgb.set(palette.subarray(row[x] * 3, row[x] * 3 + 3), out);
      } else if (channels <= 2) {
        rgb.fill(row[x * channels], out, out + 3);
      } else {
        rgb.set(row.subarray(x * channels, x * channels + 3), out);
      }
    }
  }
  return { width, height, rgb };
}

async function inflate(chunks) {
  const stream = new Blob(chunks).stream().pipeThrough(new DecompressionStream('deflate'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function unfilter(raw, stride, height, bpp) {
  const rows = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const out = y * stride;
    for (let x = 0; x < stride; x++) {
      const a = x >= bpp ? rows[out + x - bpp] : 0;
      const b = y > 0 ? rows[out - stride + x] : 0;
      const c = x >= bpp && y > 0 ? rows[out - stride + x - bpp] : 0;
      let predictor = 0;
      if (filter === 1) predictor = a;
      else if (filter === 2) predictor = b;
      else if (filter === 3) predictor = (a + b) >> 1;
      else if (filter === 4) predictor = paeth(a, b, c);
      rows[out + x] = (line[x] + predictor) & 255;
    }
  }
  return rows;
}

function paeth(a, b, c) {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  return pb <= pc ? b : c;
}

// 8-bit RGB (width x height) to width x height, as Image.resize(..., BILINEAR).
export function resize(rgb, width, height, outWidth, outHeight) {
  let image = { data: rgb, width, height };
  if (outWidth !== width) image = pass(image, outWidth, true);
  if (outHeight !== height) image = pass(image, outHeight, false);
  return image.data;
}

function coefficients(inSize, outSize) {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale;
  const inverse = 1 / filterScale;
  const result = [];
  for (let i = 0; i < outSize; i++) {
    const center = (i + 0.5) * scale;
    const min = Math.max(Math.trunc(center - support + 0.5), 0);
    const max = Math.min(Math.trunc(center + support + 0.5), inSize);
    const weights = [];
    for (let x = min; x < max; x++) weights.push(Math.max(0, 1 - Math.abs((x - center + 0.5) * inverse)));
    const total = weights.reduce((sum, w) => sum + w, 0);
    const fixed = weights.map((w) => Math.trunc(0.5 + (total ? w / total : w) * 2 ** PRECISION_BITS));
    result.push({ min, fixed });
  }
  return result;
}

function pass({ data, width, height }, outSize, horizontal) {
  const coeffs = coefficients(horizontal ? width : height, outSize);
  const outWidth = horizontal ? outSize : width;
  const outHeight = horizontal ? height : outSize;
  const out = new Uint8Array(outWidth * outHeight * 3);
  for (let y = 0; y < outHeight; y++) {
    for (let x = 0; x < outWidth; x++) {
      const { min, fixed } = coeffs[horizontal ? x : y];
      for (let c = 0; c < 3; c++) {
        let sum = 1 << (PRECISION_BITS - 1);
        for (let k = 0; k < fixed.length; k++) {
          const source = horizontal ? (y * width + min + k) * 3 : ((min + k) * width + x) * 3;
          sum += data[source + c] * fixed[k];
        }
        out[(y * outWidth + x) * 3 + c] = Math.min(255, Math.max(0, Math.floor(sum / 2 ** PRECISION_BITS)));
      }
    }
  }
  return { data: out, width: outWidth, height: outHeight };
}
{%- elif cookiecutter.task == "text" %}

// Python's whitespace (str.split() and re's \s): not JavaScript's \s, which adds U+FEFF and
// lacks U+001C..U+001F.
const SPACE = '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const SPACES = new RegExp(`[${SPACE}]+`, 'u');
// Python's \w: letters, digits (any script) and _.
const TOKEN = new RegExp(`[\\p{L}\\p{N}_]+|[^\\p{L}\\p{N}_${SPACE}]`, 'gu');
const UNKNOWN = 1;

export function normalize(text, lowercase, unicodeForm) {
  if (unicodeForm) text = text.normalize(unicodeForm);
  if (lowercase) text = text.toLowerCase();
  return text.split(SPACES).filter(Boolean).join(' ');
}

export function tokenize(normalized) {
  return normalized.match(TOKEN) ?? [];
}

const ids = new WeakMap();

export async function encode(preprocessing, text) {
  if (!ids.has(preprocessing)) ids.set(preprocessing, new Map(preprocessing.vocab.map((token, i) => [token, i])));
  const vocab = ids.get(preprocessing);
  const length = preprocessing.max_length;
  const tokens = tokenize(normalize(text, preprocessing.lowercase, preprocessing.unicode_form)).slice(0, length);
  const data = new Int32Array(length);
  tokens.forEach((token, i) => { data[i] = vocab.get(token) ?? UNKNOWN; });
  return { tokens: { type: 'int32', data, dims: [1, length] } };
}
{%- else %}

const SPACE = '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const TRIM = new RegExp(`^[${SPACE}]+|[${SPACE}]+$`, 'gu');
const MISSING = new Set(['', 'na', 'n/a', 'nan', '-nan', '+nan', 'null', 'none', '#n/a', '<na>']);
const NUMBER = /^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/;
const INFINITY = /^[+-]?inf(inity)?$/i;
const INDICATOR_SUFFIX = ':missing';

export function isMissing(value) {
  return MISSING.has(value.replace(TRIM, '').toLowerCase());
}

// The number a cell is written as (an infinity included), or null if it is not one.
export function parseNumber(value) {
  const text = value.replace(TRIM, '');
  if (NUMBER.test(text)) return Number(text);
  if (INFINITY.test(text)) return text.startsWith('-') ? -Infinity : Infinity;
  return null;
}

// `row` maps every feature column to its cell, a string ('' or a MISSING word: missing).
export async function encode(preprocessing, row) {
  const inputs = {};
  if (preprocessing.numeric.length) {
    const features = new Map();
    for (const [column, median] of preprocessing.medians) {
      const value = row[column] ?? '';
      const missing = isMissing(value);
      features.set(column + INDICATOR_SUFFIX, missing ? 1 : 0);
      const number = missing ? median : parseNumber(value);
      if (number === null) throw new Error(`column ${column}: '${value}' is not a number`);
      if (!Number.isFinite(number)) throw new Error(`column ${column}: ${value.replace(TRIM, '')} is not a finite number`);
      features.set(column, number);
    }
    const data = Float32Array.from(preprocessing.numeric, ([name, mean, std]) => (features.get(name) - mean) / std);
    inputs.numeric = { type: 'float32', data, dims: [1, data.length] };
  }
  if (preprocessing.categorical.length) {
    const data = Int32Array.from(preprocessing.categorical, ([column, values]) => values.indexOf(row[column] ?? '') + 1);
    inputs.categorical = { type: 'int32', data, dims: [1, data.length] };
  }
  return inputs;
}
{%- endif %}
