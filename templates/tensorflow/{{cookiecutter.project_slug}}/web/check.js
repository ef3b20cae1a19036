// The page's self-check (/?check; `make web-test` runs it in headless Chromium): the golden
// vectors of tests/golden/ through preprocess.js, then each validation example of web.json:
// encoded to Python's arrays exactly, and the model's outputs within web.tolerance of Python's.
import { infer } from './app.js';
import { encode{% if cookiecutter.task == "image" %}, decodeRgb, resize, toFloat{% endif %} } from './preprocess.js';

function flat(nested) {
  return Array.isArray(nested) ? nested.flat(Infinity) : [nested];
}

// Where two arrays differ first, or undefined; float32 values are compared as float32.
function difference(actual, expected) {
  if (actual.length !== expected.length) return `length ${actual.length}, expected ${expected.length}`;
  const index = expected.findIndex((value, i) => Math.fround(value) !== Math.fround(actual[i]));
  return index < 0 ? undefined : `at ${index}: ${actual[index]}, expected ${expected[index]}`;
}

function compare(lines, name, inputs, expected) {
  const problems = Object.entries(expected).map(([input, values]) => {
    const problem = inputs[input] ? difference(Array.from(inputs[input].data), flat(values)) : 'missing';
    return problem && `${input} ${problem}`;
  }).filter(Boolean);
  lines.push(`${problems.length ? 'FAIL' : 'ok  '} ${name}${problems.length ? `: ${problems.join('; ')}` : ''}`);
  return !problems.length;
}
{%- if cookiecutter.task == "image" %}

async function golden(lines, cases) {
  let ok = true;
  for (const item of cases) {
    const bytes = Uint8Array.from(atob(item.png_base64), (c) => c.charCodeAt(0));
    const { width, height, rgb } = await decodeRgb(new Blob([bytes], { type: 'image/png' }));
    const pixels = resize(rgb, width, height, item.image_size, item.image_size);
    const inputs = { pixels: { data: pixels }, image: { data: toFloat(pixels) } };
    ok = compare(lines, `golden: ${item.name}`, inputs, { pixels: item.pixels, image: item.image }) && ok;
  }
  return ok;
}
{%- elif cookiecutter.task == "text" %}

async function golden(lines, cases) {
  let ok = true;
  for (const item of cases) {
    const preprocessing = item.fitted;
    for (const [i, instance] of item.instances.entries()) {
      const inputs = await encode(preprocessing, typeof instance === 'string' ? instance : instance.text);
      ok = compare(lines, `golden: ${item.name} (instance ${i})`, inputs, { tokens: item.encoded_instances.tokens[i] }) && ok;
    }
  }
  return ok;
}
{%- else %}

// Python's str() of a request value: null is an empty (missing) cell.
const cell = (value) => (value === null ? '' : String(value));

async function golden(lines, cases) {
  let ok = true;
  for (const item of cases) {
    const { fitted } = item;
    const preprocessing = {
      numeric: Object.entries(fitted.numeric).map(([name, stats]) => [name, ...stats]),
      medians: Object.entries(fitted.medians ?? {}),
      categorical: Object.entries(fitted.categorical),
    };
    for (const [i, instance] of item.instances.entries()) {
      const row = Object.fromEntries(Object.entries(instance).map(([column, value]) => [column, cell(value)]));
      const expected = Object.fromEntries(Object.entries(item.encoded_instances).map(([name, rows]) => [name, rows[i]]));
      ok = compare(lines, `golden: ${item.name} (instance ${i})`, await encode(preprocessing, row), expected) && ok;
    }
  }
  return ok;
}

function fromExample(example) {
  return example.raw;
}
{%- endif %}
{%- if cookiecutter.task == "image" %}

function fromExample(example) {
  const bytes = Uint8Array.from(atob(example.raw.base64), (c) => c.charCodeAt(0));
  return new Blob([bytes], { type: 'image/png' });
}
{%- elif cookiecutter.task == "text" %}

function fromExample(example) {
  return example.raw;
}
{%- endif %}

export async function check({ web, session }) {
  const lines = [];
  const cases = (await (await fetch(`/golden/${web.task}.json`)).json()).cases;
  let ok = await golden(lines, cases);
  const times = [];
  for (const example of web.examples) {
    const inputs = await encode(web.preprocessing, fromExample(example));
    ok = compare(lines, `encode: ${example.source}`, inputs, example.inputs) && ok;
    const { outputs, ms } = await infer(session, inputs);
    const diff = Math.max(...outputs.map((value, i) => Math.abs(value - example.outputs[i])));
    const match = outputs.length === example.outputs.length && diff <= web.tolerance;
    ok = match && ok;
    times.push(ms);
    lines.push(`${match ? 'ok  ' : 'FAIL'} predict: ${example.source}: max |browser - python| = ${diff.toExponential(2)} (tolerance ${web.tolerance}), ${ms.toFixed(2)} ms`);
  }
  const mean = times.reduce((sum, ms) => sum + ms, 0) / times.length;
  lines.push(`inference per example (batch of 1, median of runs): mean ${mean.toFixed(2)} ms over ${times.length} examples`);
  lines.push(ok ? 'web check passed' : 'web check FAILED');
  return { ok, lines, inferenceMs: mean };
}
