// The page: its controls, chart, kernel view and drawing canvas, and `window.lenet`, the stable
// hook that tests (and anyone scripting the page) drive it through. The arithmetic is all in the
// wasm module (pkg/, built from web/src by web/build.sh); this file only draws and paces.
//
// URL options: ?backend=cpu (or webgpu; default auto) and ?seed=N (default 1).
import init, { open } from './pkg/lenet_web.js';

const $ = (id) => document.getElementById(id);
const MNIST_FILES = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'];
const options = new URLSearchParams(location.search);
// Steps the Train button runs between redraws of the chart and kernels.
const CHUNK_STEPS = 50;

// ---- pacing -------------------------------------------------------------------------------
// `pause` yields a macrotask (without setTimeout's 4 ms clamp): the browser draws and handles
// input meanwhile. The CPU path awaits it between slices of about 20 ms.
const channel = new MessageChannel();
const waiting = [];
channel.port1.onmessage = () => waiting.shift()?.();
const pause = () => new Promise((resolve) => { waiting.push(resolve); channel.port2.postMessage(0); });

// The longest gap between two frames since `frames.reset()`: how responsive the page stayed.
const frames = { last: 0, maxGap: 0, reset() { this.last = 0; this.maxGap = 0; } };
(function tick(now) {
  if (frames.last) frames.maxGap = Math.max(frames.maxGap, now - frames.last);
  frames.last = now;
  requestAnimationFrame(tick);
})(performance.now());

// One call into the module at a time, in order (the module rejects overlapping calls).
let queue = Promise.resolve();
function exclusive(work) {
  const run = queue.then(work, work);
  queue = run.catch(() => {});
  return run;
}

let page;             // the module's Page
let training = false; // a training run (button or hook) is under way
let stopping = false;
const history = [];   // { step, loss, trainAccuracy, testAccuracy? }
let stepsSoFar = 0;

// ---- start ----------------------------------------------------------------------------------
const ready = (async () => {
  await init();
  // wgpu does not read a browser adapter's name: ask the browser, as GPUAdapterInfo gives it
  // (the module chooses the kernels that suit a software adapter by it).
  const adapterName = (await browserAdapterName()) || '';
  page = await open(options.get('backend') || 'auto', Number(options.get('seed') || 1), adapterName);
  const info = page.info();
  if (info.backend === 'webgpu' && !info.adapter) info.adapter = adapterName;
  showDevice(info);
  await findMnist();
  setButtons();
  await drawKernels();
  return { adapter: info.adapter, backend: info.backend };
})();
ready.catch((e) => { $('status').textContent = `error: ${e.message}`; });

async function browserAdapterName() {
  const adapter = await navigator.gpu?.requestAdapter();
  const i = adapter?.info;
  return i ? [i.vendor, i.architecture, i.device, i.description].filter(Boolean).join(' ') : '';
}

function showDevice(info) {
  if (info.backend === 'webgpu') {
    $('status').textContent = `Training on WebGPU: ${info.adapter || 'an unnamed adapter'}` +
      (info.software ? ' (a software adapter: it runs on the CPU, so it is slow; a hardware GPU is far faster). ' : '');
    if (info.software) {
      const link = document.createElement('a');
      link.href = '?backend=cpu';
      link.textContent = 'Train on the CPU path compiled to WebAssembly instead (faster here).';
      $('status').append(link);
    }
  } else {
    const why = !navigator.gpu ? 'this browser has no WebGPU' : (info.fallback || 'WebGPU was not used');
    $('status').textContent = `No WebGPU here (${why}): training on the library's CPU path compiled to WebAssembly (one thread).`;
    $('status').className = 'warning';
  }
}

// MNIST's four .gz files served beside the page (mnist/), if they are there.
async function findMnist() {
  const responses = await Promise.all(MNIST_FILES.map((n) => fetch(`mnist/${n}.gz`).catch(() => null)));
  if (responses.every((r) => r && r.ok)) {
    const files = await Promise.all(responses.map(async (r) => new Uint8Array(await r.arrayBuffer())));
    await useMnist(files, 'served beside the page');
  } else {
    $('data').textContent = 'MNIST was not found beside the page (mnist/*.gz): training on synthetic digits, ' +
      'made by the same generator as the lenet command line. Pick MNIST\'s four files to train on it.';
  }
}

async function useMnist(files, where) {
  const sizes = await exclusive(() => page.setMnist(files));
  $('data').textContent = `MNIST ${where}: ${sizes}.`;
  $('dataset').value = 'mnist';
}

// ---- training -------------------------------------------------------------------------------
// `context`: the Train click's epochs, as the module counts them ({ epoch, epochs }), if any.
function showProgress(t, context) {
  const epoch = context ? `epoch ${context.epoch}/${context.epochs} · ` : '';
  $('progress').textContent = `${epoch}step ${stepsSoFar + t.steps} · loss ${t.loss.toFixed(4)} · ` +
    `train acc ${(100 * t.trainAccuracy).toFixed(1)}% · ${Math.round(t.imagesPerSecond)} images/s`;
}

// Trains `steps` steps as one call; returns the module's totals.
async function trainSteps(steps, batchSize, learningRate, dataset, context = null) {
  let last = 0;
  const onProgress = (t) => {
    const now = performance.now();
    if (now - last > 100) { showProgress(t, context); last = now; }
  };
  const t = await exclusive(() => page.train(steps, batchSize, learningRate, dataset, onProgress, pause));
  stepsSoFar += t.steps;
  history.push({ step: stepsSoFar, loss: t.loss, trainAccuracy: t.trainAccuracy });
  showProgress({ ...t, steps: 0 }, t.plan || context);
  return t;
}

async function evaluate(dataset) {
  const accuracy = await exclusive(() => page.evaluate(dataset, pause));
  if (history.length) history[history.length - 1].testAccuracy = accuracy;
  drawChart();
  return accuracy;
}

// The Train button: epochs in chunks, the chart, kernels and drawn digit redrawn between them,
// the held-out accuracy after each epoch.
async function trainEpochs(event) {
  event.preventDefault();
  const epochs = Number($('epochs').value), batch = Number($('batch').value);
  const lr = Number($('lr').value), dataset = $('dataset').value;
  training = true; stopping = false; setButtons();
  try {
    // The module plans the click's steps; each call stops at an epoch's end and says where
    // the click stands.
    let plan = await exclusive(() => page.planEpochs(epochs, batch, dataset));
    while (plan.stepsLeft > 0 && !stopping) {
      const t = await trainSteps(CHUNK_STEPS, batch, lr, dataset, plan);
      plan = t.plan;
      drawChart();
      await drawKernels();
      await readDigit(false);
      if (plan.epochEnded || plan.stepsLeft === 0) {
        const accuracy = await evaluate(dataset);
        $('progress').textContent += ` · test acc ${(100 * accuracy).toFixed(2)}%`;
      }
    }
  } catch (e) {
    $('progress').textContent = stopping ? `stopped: ${e.message}` : `error: ${e.message}`;
  } finally {
    training = false; setButtons();
    drawChart();
    await drawKernels();
  }
}

function setButtons() {
  $('train').disabled = !page || training;
  $('stop').disabled = !training;
  $('save').disabled = !page || training;
}

$('controls').addEventListener('submit', trainEpochs);
$('stop').addEventListener('click', () => { stopping = true; page?.stop(); });

// ---- the chart: loss (left axis) and accuracy (right axis, 0..100%) by step ------------------
function drawChart() {
  const c = $('chart'), g = c.getContext('2d');
  const pad = { l: 48, r: 48, t: 12, b: 28 };
  const w = c.width - pad.l - pad.r, h = c.height - pad.t - pad.b;
  g.clearRect(0, 0, c.width, c.height);
  g.font = '11px system-ui, sans-serif';
  g.strokeStyle = '#999'; g.strokeRect(pad.l, pad.t, w, h);
  if (!history.length) return;
  const maxStep = history[history.length - 1].step, maxLoss = Math.max(...history.map((p) => p.loss), 1e-6);
  const x = (s) => pad.l + (w * s) / maxStep;
  const yLoss = (v) => pad.t + h - (h * v) / maxLoss;
  const yAcc = (v) => pad.t + h - h * v;
  const line = (points, y, colour) => {
    g.strokeStyle = colour; g.lineWidth = 1.5; g.beginPath();
    points.forEach((p, i) => (i ? g.lineTo : g.moveTo).call(g, x(p.step), y(p)));
    g.stroke();
  };
  line(history, (p) => yLoss(p.loss), '#c33');
  line(history, (p) => yAcc(p.trainAccuracy), '#39c');
  g.fillStyle = '#063';
  for (const p of history.filter((p) => p.testAccuracy !== undefined)) {
    g.beginPath(); g.arc(x(p.step), yAcc(p.testAccuracy), 3.5, 0, 2 * Math.PI); g.fill();
  }
  g.fillStyle = '#333';
  g.fillText(maxLoss.toFixed(2), 4, pad.t + 8); g.fillText('0', pad.l - 12, pad.t + h);
  g.fillText('100%', c.width - pad.r + 4, pad.t + 8); g.fillText('0%', c.width - pad.r + 4, pad.t + h);
  g.fillText(`step ${maxStep}`, c.width - pad.r - 50, c.height - 8);
  g.fillStyle = '#c33'; g.fillText('loss', pad.l + 6, c.height - 8);
  g.fillStyle = '#39c'; g.fillText('train accuracy', pad.l + 40, c.height - 8);
  g.fillStyle = '#063'; g.fillText('● test accuracy', pad.l + 130, c.height - 8);
}

// ---- conv1's kernels: each on one gray scale, mid-gray 0 ------------------------------------
async function drawKernels() {
  const k = await exclusive(() => page.kernels());
  const c = $('kernels'), g = c.getContext('2d');
  const size = Math.min(90, Math.floor((c.width - 10) / k.count) - 10);
  g.clearRect(0, 0, c.width, c.height);
  const image = g.createImageData(k.width, k.height);
  const scratch = new OffscreenCanvas(k.width, k.height), sg = scratch.getContext('2d');
  g.imageSmoothingEnabled = false;
  for (let i = 0; i < k.count; i++) {
    const values = k.values.subarray(i * k.width * k.height, (i + 1) * k.width * k.height);
    const scale = Math.max(...values.map(Math.abs), 1e-6);
    values.forEach((v, j) => {
      const level = Math.round(127.5 + (127.5 * v) / scale);
      image.data.set([level, level, level, 255], 4 * j);
    });
    sg.putImageData(image, 0, 0);
    g.drawImage(scratch, 10 + i * (size + 10), 10, size, size);
  }
}

// ---- the drawing canvas -----------------------------------------------------------------------
const digit = $('digit'), pen = digit.getContext('2d', { willReadFrequently: true });
function clearDigit() {
  pen.fillStyle = '#000'; pen.fillRect(0, 0, digit.width, digit.height);
  $('top3').innerHTML = ''; $('seen').getContext('2d').clearRect(0, 0, 112, 112);
}
clearDigit();
let drawing = false, lastRead = 0;
function at(event) {
  const r = digit.getBoundingClientRect();
  return [(event.clientX - r.left) * (digit.width / r.width), (event.clientY - r.top) * (digit.height / r.height)];
}
digit.addEventListener('pointerdown', (e) => {
  drawing = true; digit.setPointerCapture(e.pointerId);
  pen.strokeStyle = '#fff'; pen.lineWidth = 20; pen.lineCap = pen.lineJoin = 'round';
  pen.beginPath(); pen.moveTo(...at(e)); pen.lineTo(...at(e)); pen.stroke();
});
digit.addEventListener('pointermove', (e) => {
  if (!drawing) return;
  pen.lineTo(...at(e)); pen.stroke();
  if (performance.now() - lastRead > 200) { lastRead = performance.now(); readDigit(false); }
});
digit.addEventListener('pointerup', () => { drawing = false; readDigit(false); });
$('clear').addEventListener('click', clearDigit);

// What the network reads on the canvas: shows it and returns the ten probabilities. A blank
// canvas rejects when `strict`, and quietly shows nothing otherwise.
async function readDigit(strict) {
  const { data, width, height } = pen.getImageData(0, 0, digit.width, digit.height);
  let reading;
  try {
    reading = await exclusive(() => page.predict(new Uint8Array(data.buffer), width, height));
  } catch (e) {
    if (strict) throw e;
    return null;
  }
  const seen = $('seen').getContext('2d'), image = seen.createImageData(28, 28);
  reading.input.forEach((v, i) => image.data.set([v, v, v, 255], 4 * i));
  const scratch = new OffscreenCanvas(28, 28);
  scratch.getContext('2d').putImageData(image, 0, 0);
  seen.imageSmoothingEnabled = false;
  seen.drawImage(scratch, 0, 0, 112, 112);
  const ranked = [...reading.probabilities].map((p, c) => [c, p]).sort((a, b) => b[1] - a[1]).slice(0, 3);
  $('top3').innerHTML = ranked.map(([c, p]) => `<li>${c}: ${(100 * p).toFixed(1)}%</li>`).join('');
  return Array.from(reading.probabilities);
}

// ---- files ------------------------------------------------------------------------------------
$('save').addEventListener('click', async () => {
  const bytes = await exclusive(() => page.save());
  const link = document.createElement('a');
  link.href = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
  link.download = 'lenet.safetensors';
  link.click();
  URL.revokeObjectURL(link.href);
});
$('load').addEventListener('change', async (e) => {
  const file = e.target.files[0];
  if (!file) return;
  try {
    const name = await window.lenet.load(new Uint8Array(await file.arrayBuffer()));
    $('progress').textContent = `loaded ${file.name}: ${name}`;
  } catch (err) {
    $('progress').textContent = `error: ${err.message}`;
  }
});
$('mnist-files').addEventListener('change', async (e) => {
  const picked = [...e.target.files];
  const files = MNIST_FILES.map((n) => picked.find((f) => f.name.startsWith(n)));
  if (files.some((f) => !f)) {
    $('data').textContent = `pick all four of MNIST's files: ${MNIST_FILES.map((n) => n + '.gz').join(', ')}`;
    return;
  }
  try {
    await useMnist(await Promise.all(files.map(async (f) => new Uint8Array(await f.arrayBuffer()))), 'picked');
  } catch (err) {
    $('data').textContent = `error: ${err.message}`;
  }
});

// ---- the hook ---------------------------------------------------------------------------------
window.lenet = {
  ready,
  // Continues from the current weights and optimizer state; `accuracy` is on the held-out set.
  async train({ steps = 100, batchSize = 64, learningRate = 0.01, dataset = 'synthetic' } = {}) {
    await ready;
    if (training) throw new Error('busy: training is already running (one train() at a time)');
    training = true; setButtons();
    try {
      frames.reset();
      const t = await trainSteps(steps, batchSize, learningRate, dataset);
      const maxFrameGapMs = frames.maxGap;
      const accuracy = await evaluate(dataset);
      await drawKernels();
      return {
        loss: t.loss, accuracy, imagesPerSecond: t.imagesPerSecond,
        trainAccuracy: t.trainAccuracy, steps: t.steps, seconds: t.seconds, maxFrameGapMs,
      };
    } finally {
      training = false; setButtons();
    }
  },
  // The ten probabilities for the digit on the canvas (#digit); a blank canvas rejects.
  async predict() {
    await ready;
    return readDigit(true);
  },
  async save() {
    await ready;
    return exclusive(() => page.save());
  },
  async load(bytes) {
    await ready;
    const name = await exclusive(() => page.load(bytes));
    history.length = 0; stepsSoFar = 0;
    drawChart();
    await drawKernels();
    return name;
  },
  // { kernel: relative error } for every kernel, WebGPU against the CPU path.
  async parity(seed = Date.now()) {
    await ready;
    return exclusive(() => page.parity(seed));
  },
};
