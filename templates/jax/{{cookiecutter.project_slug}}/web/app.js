// The page: ONNX Runtime Web runs the exported model.onnx on inputs that preprocess.js encodes
// as Python does; each prediction shows the model's inference time.
import * as ort from '/ort/ort.wasm.min.mjs';
import { encode } from './preprocess.js';

const RUNS = 10; // session.run calls per prediction; the page shows their median time

ort.env.wasm.wasmPaths = '/ort/';
ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency) : 1;

export async function loadModel() {
  const web = await (await fetch('/model/web.json')).json();
  const session = await ort.InferenceSession.create('/model/model.onnx', { executionProviders: ['wasm'] });
  return { web, session };
}

// The model's outputs for one encoded example, and the median time of RUNS runs (ms).
export async function infer(session, inputs) {
  const feeds = Object.fromEntries(Object.entries(inputs).map(([name, { type, data, dims }]) => [name, new ort.Tensor(type, data, dims)]));
  const times = [];
  let outputs;
  for (let i = 0; i < RUNS; i++) {
    const start = performance.now();
    const result = await session.run(feeds);
    times.push(performance.now() - start);
    outputs = Array.from(result[session.outputNames[0]].data);
  }
  times.sort((a, b) => a - b);
  return { outputs, ms: times[RUNS >> 1] };
}

function describe(web, outputs) {
  if (web.objective === 'regression') {
    const [mean, std] = web.preprocessing.target_stats;
    return `<p>Predicted value: <b>${(outputs[0] * std + mean).toFixed(4)}</b></p>`;
  }
  const top = Math.max(...outputs);
  const exps = outputs.map((x) => Math.exp(x - top));
  const total = exps.reduce((sum, x) => sum + x, 0);
  const best = outputs.indexOf(top);
  const rows = web.labels.map((label, i) => `<tr><td>${escape(label)}</td><td>${(exps[i] / total).toFixed(4)}</td></tr>`);
  return `<p>Prediction: <b>${escape(web.labels[best])}</b></p><table>${rows.join('')}</table>`;
}

function escape(text) {
  return String(text).replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function predict(model, raw) {
  const result = document.getElementById('result');
  try {
    const start = performance.now();
    const inputs = await encode(model.web.preprocessing, raw);
    const preprocessing = performance.now() - start;
    const { outputs, ms } = await infer(model.session, inputs);
    result.innerHTML = `${describe(model.web, outputs)}<p>Inference: ${ms.toFixed(2)} ms (median of ${RUNS} runs, batch of 1); preprocessing: ${preprocessing.toFixed(2)} ms</p>`;
  } catch (error) {
    result.innerHTML = `<p class="error">${escape(error.message)}</p>`;
  }
}
{%- if cookiecutter.task == "image" %}

function fromExample(example) {
  const bytes = Uint8Array.from(atob(example.raw.base64), (c) => c.charCodeAt(0));
  return new File([bytes], example.raw.name, { type: 'image/png' });
}

function setUp(model) {
  const preview = document.getElementById('preview');
  const show = (file) => {
    preview.src = URL.createObjectURL(file);
    preview.hidden = false;
    predict(model, file);
  };
  const zone = document.getElementById('input');
  zone.addEventListener('dragover', (event) => { event.preventDefault(); zone.classList.add('over'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (event) => {
    event.preventDefault();
    zone.classList.remove('over');
    if (event.dataTransfer.files.length) show(event.dataTransfer.files[0]);
  });
  document.getElementById('file').addEventListener('change', (event) => event.target.files.length && show(event.target.files[0]));
  return (example) => show(fromExample(example));
}
{%- elif cookiecutter.task == "text" %}

function setUp(model) {
  const text = document.getElementById('text');
  document.getElementById('predict').addEventListener('click', () => predict(model, text.value));
  return (example) => {
    text.value = example.raw;
    predict(model, example.raw);
  };
}
{%- else %}

function setUp(model) {
  const form = document.getElementById('row');
  form.addEventListener('submit', (event) => event.preventDefault());
  const { medians, categorical } = model.web.preprocessing;
  const fields = [
    ...medians.map(([column]) => [column, 'a number; empty: missing']),
    ...categorical.map(([column, values]) => [column, values.slice(0, 5).join(', ') + (values.length > 5 ? ', …' : '')]),
  ];
  for (const [column, hint] of fields) {
    const label = document.createElement('label');
    label.textContent = `${column} `;
    const input = Object.assign(document.createElement('input'), { type: 'text', name: column, placeholder: hint });
    label.append(input);
    form.append(label);
  }
  const row = () => Object.fromEntries(new FormData(form));
  document.getElementById('predict').addEventListener('click', () => predict(model, row()));
  return (example) => {
    for (const [column, value] of Object.entries(example.raw)) form.elements[column].value = value;
    predict(model, row());
  };
}
{%- endif %}

async function main() {
  const status = document.getElementById('status');
  try {
    const model = await loadModel();
    status.textContent = `Model loaded: ONNX Runtime Web ${ort.env.versions.web}, WebAssembly, ${ort.env.wasm.numThreads} thread(s).`;
    if (new URLSearchParams(location.search).has('check')) {
      const { check } = await import('./check.js');
      window.webCheck = await check(model);
      document.getElementById('check').textContent = window.webCheck.lines.join('\n');
      return;
    }
    const show = setUp(model);
    const examples = document.getElementById('examples');
    model.web.examples.forEach((example, i) => {
      const button = Object.assign(document.createElement('button'), { textContent: `${i + 1}`, title: example.source });
      button.addEventListener('click', () => show(example));
      examples.append(button, ' ');
    });
  } catch (error) {
    status.innerHTML = `<span class="error">${escape(error.message)}</span>`;
    document.body.dataset.error = error.message;
  }
}

main();
