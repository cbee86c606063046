// The page: its controls, chart, kernel view and drawing canvas, and `window.lenet`, the stable
// hook that tests (and anyone scripting the page) drive it through. The arithmetic is all in the
// wasm module (pkg/, built from web/src by web/build.sh); this file only draws and paces.
//
// URL options: ?backend=cpu or webgpu (default auto: WebGPU on a hardware adapter, else the CPU
// path) and ?seed=N (default 1).
import init, { open, checkSetting } from './pkg/lenet_web.js';
import { drawHistory, drawInside, drawKernelImages, showScore } from './pictures.js';

const $ = (id) => document.getElementById(id);
const MNIST_FILES = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'];
const options = new URLSearchParams(location.search);
// Steps the Train button runs between redraws of the chart and kernels.
const CHUNK_STEPS = 50;
// How often the progress line and the chart take a new point while training.
const POINT_MS = 400;
// Where the model is kept between visits (safetensors bytes, base64).
const STORED_MODEL = 'lenet-gpu/model';

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
let defaults = {};    // the library's batch size and learning rate (page.info())
let warmUpMs = 0;     // how long the warm-up while loading took (Lab::warm_up)

// ---- start ----------------------------------------------------------------------------------
const ready = (async () => {
  await init();
  // wgpu does not read a browser adapter's name: ask the browser, as GPUAdapterInfo gives it
  // (the module chooses the kernels that suit a software adapter by it).
  const adapterName = (await browserAdapterName()) || '';
  if (navigator.gpu && options.get('backend') !== 'cpu') $('status').textContent = 'Preparing the GPU: compiling its kernels…';
  page = await open(options.get('backend') || 'auto', Number(options.get('seed') || 1), adapterName);
  const info = page.info();
  if (info.backend === 'webgpu' && !info.adapter) info.adapter = adapterName;
  // The fields start at the library's defaults, written there alone.
  defaults = { batchSize: info.batchSize, learningRate: info.learningRate };
  if (!$('batch').value) $('batch').value = defaults.batchSize;
  if (!$('lr').value) $('lr').value = defaults.learningRate;
  showDevice(info);
  // What the first drawing and the first Train would wait for is made now (`Lab::warm_up`).
  const preparing = document.createElement('span');
  if (info.backend === 'webgpu') preparing.textContent = ' Preparing the kernels that read a digit and train…';
  $('status').append(preparing);
  const started = performance.now();
  await exclusive(() => page.warmUp());
  warmUpMs = performance.now() - started;
  preparing.remove();
  await findMnist();
  await restoreModel();
  setButtons();
  await drawKernels();
  return { adapter: info.adapter, backend: info.backend, software: info.software, fallback: info.fallback, warmUpMs };
})();
ready.catch((e) => { $('status').textContent = `error: ${e.message}`; });

async function browserAdapterName() {
  const adapter = await navigator.gpu?.requestAdapter();
  const i = adapter?.info;
  return i ? [i.vendor, i.architecture, i.device, i.description].filter(Boolean).join(' ') : '';
}

function showDevice(info) {
  $('title').textContent = `LeNet-5, trained on your ${info.backend === 'webgpu' ? 'GPU (WebGPU)' : 'CPU'}, in this page`;
  const status = $('status');
  const link = (href, text) => Object.assign(document.createElement('a'), { href, textContent: text });
  if (info.backend === 'webgpu') {
    status.textContent = `Training on WebGPU: ${info.adapter || 'an unnamed adapter'}` +
      (info.software ? ' (a software adapter: it runs on the CPU, so it is slow; a hardware GPU is far faster). ' : '. ');
    if (info.software) status.append(link('?backend=cpu', 'Train on the CPU path compiled to WebAssembly instead (faster here).'));
  } else if (options.get('backend') === 'cpu') {
    status.textContent = 'Training on the library\'s CPU path compiled to WebAssembly (one thread), as ?backend=cpu asks. ';
    if (navigator.gpu) status.append(link('?backend=webgpu', 'Train on WebGPU instead.'));
  } else if (info.software) {
    status.textContent = `Training on the library's CPU path compiled to WebAssembly (one thread): ${info.fallback}. `;
    status.append(link('?backend=webgpu', 'Run the WGSL kernels on WebGPU anyway.'));
  } else {
    const why = !navigator.gpu ? 'this browser has no WebGPU' : (info.fallback || 'WebGPU was not used');
    status.textContent = `No WebGPU here (${why}): training on the library's CPU path compiled to WebAssembly (one thread).`;
    status.className = 'warning';
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
// What the progress line says of the work under way: `done` of `total` steps since `started`
// (the click's, or the hook call's), and the click's epochs ({ epoch, epochs }) if any.
let work = null;
function showProgress(t, context) {
  const epoch = context ? `epoch ${context.epoch}/${context.epochs} · ` : '';
  let step = `step ${stepsSoFar + t.steps}`;
  let left = '';
  if (work) {
    const done = work.done + t.steps, seconds = (performance.now() - work.started) / 1000;
    step = `step ${done} of ${work.total}`;
    if (done > 0 && done < work.total && seconds > 0.5) left = ` · about ${duration(((work.total - done) * seconds) / done)} left`;
  }
  $('progress').textContent = `${epoch}${step} · loss ${t.loss.toFixed(4)} · ` +
    `train acc ${(100 * t.trainAccuracy).toFixed(1)}% · ${thousands(t.imagesPerSecond)} images/s${left}`;
}
// 12,345: by hand, since the first toLocaleString() loads the locale's data (about 30 ms).
function thousands(n) {
  return String(Math.round(n)).replace(/\B(?=(\d{3})+$)/g, ',');
}
function duration(seconds) {
  if (seconds < 90) return `${Math.max(1, Math.round(seconds))} s`;
  const minutes = Math.round(seconds / 60);
  return minutes < 90 ? `${minutes} min` : `${(minutes / 60).toFixed(1)} h`;
}

// Trains `steps` steps as one call; returns the module's totals. While it runs, the progress
// line and the chart take a point every POINT_MS (the loss and accuracy of the steps since the
// last point), so the first one comes at once.
async function trainSteps(steps, batchSize, learningRate, dataset, context = null) {
  let last = -Infinity, mark = { steps: 0, images: 0, lossSum: 0, correct: 0 }, latest = null;
  const point = (t) => {
    const images = t.images - mark.images;
    if (images <= 0) return;
    const lossSum = t.loss * t.images, correct = t.trainAccuracy * t.images;
    history.push({ step: stepsSoFar + t.steps, loss: (lossSum - mark.lossSum) / images, trainAccuracy: (correct - mark.correct) / images });
    mark = { steps: t.steps, images: t.images, lossSum, correct };
    drawChart();
  };
  const onProgress = (t) => {
    latest = t;
    const now = performance.now();
    if (now - last > POINT_MS) { showProgress(t, context); point(t); last = now; }
  };
  try {
    const t = await exclusive(() => page.train(steps, batchSize, learningRate, dataset, onProgress, pause));
    point(t);
    stepsSoFar += t.steps;
    if (work) work.done += t.steps;
    showProgress({ ...t, steps: 0 }, t.plan || context);
    return t;
  } catch (e) {
    // A stop keeps the steps that ran: the module says how many.
    const ran = Number(/interrupted after (\d+) steps?/.exec(e.message)?.[1] || 0);
    if (latest) point({ ...latest });
    stepsSoFar += ran;
    if (work) work.done += ran;
    throw e;
  }
}

async function evaluate(dataset) {
  const scored = await exclusive(() => page.score(dataset, pause));
  if (history.length) history[history.length - 1].testAccuracy = scored.accuracy;
  drawChart();
  // A mistake clicked is drawn in the pad and read as the network read it when scored.
  showScore(scored, (canvas, image) => {
    pen.imageSmoothingEnabled = false;
    pen.drawImage(canvas, 0, 0, digit.width, digit.height);
    readDigit(false, true, image);
  });
  return scored.accuracy;
}

// The form's fields, each checked as it is typed by the library's rules (`checkSetting`); a
// reason shows under the form and the field is marked invalid.
const FIELDS = { epochs: 'epochs', batch: 'batchSize', lr: 'learningRate' };
const LABELS = { epochs: 'epochs', batch: 'batch size', lr: 'learning rate' };
function fieldProblems() {
  const problems = [];
  for (const [id, setting] of Object.entries(FIELDS)) {
    const text = $(id).value.trim();
    const why = text === '' ? 'is empty' : checkSetting(setting, Number(text));
    $(id).setCustomValidity(why ? `${LABELS[id]} ${why}` : '');
    $(id).setAttribute('aria-invalid', why ? 'true' : 'false');
    if (why) problems.push(`${LABELS[id]} ${why}`);
  }
  $('form-error').textContent = problems.join('; ');
  return problems;
}
for (const id of Object.keys(FIELDS)) $(id).addEventListener('input', () => { if (page) fieldProblems(); });

// The Train button: epochs in chunks, the chart, kernels and drawn digit redrawn between them,
// the held-out accuracy after each epoch.
async function trainEpochs(event) {
  event.preventDefault();
  if (fieldProblems().length) return;
  const epochs = Number($('epochs').value), batch = Number($('batch').value);
  const lr = Number($('lr').value), dataset = $('dataset').value;
  training = true; stopping = false; setButtons();
  try {
    // The module plans the click's steps; each call stops at an epoch's end and says where
    // the click stands.
    let plan = await exclusive(() => page.planEpochs(epochs, batch, dataset));
    work = { total: plan.stepsLeft, done: 0, started: performance.now() };
    $('progress').textContent = `epoch 1/${plan.epochs} · step 0 of ${plan.stepsLeft} · starting…`;
    while (plan.stepsLeft > 0 && !stopping) {
      const t = await trainSteps(CHUNK_STEPS, batch, lr, dataset, plan);
      plan = t.plan;
      await drawKernels();
      await readDigit(false, false);
      if (plan.epochEnded || plan.stepsLeft === 0) {
        const accuracy = await evaluate(dataset);
        $('progress').textContent += ` · test acc ${(100 * accuracy).toFixed(2)}%`;
      }
    }
    if (stopping) $('progress').textContent = stopped();
  } catch (e) {
    $('progress').textContent = stopping ? stopped() : `error: ${e.message}`;
  } finally {
    work = null;
    await exclusive(() => page.endPlan());   // a click stopped between two calls is over too
    training = false; setButtons();
    drawChart();
    await drawKernels();
    await storeModel();
  }
}

// What Stop ended: the steps that ran (the module counts them), all kept.
function stopped() {
  return `stopped after ${work.done} steps of ${work.total} (the model keeps them: Train goes on from there)`;
}

function setButtons() {
  $('train').disabled = !page || training;
  $('stop').disabled = !training;
  $('save').disabled = !page || training;
  $('reset').disabled = !page || training;
}

// Starts over from the seed: a fresh network, no history, nothing kept for the next visit.
async function resetModel() {
  await exclusive(() => page.reset());
  history.length = 0; stepsSoFar = 0;
  localStorage.removeItem(STORED_MODEL);
  $('progress').textContent = 'reset: a fresh network from the seed';
  drawChart();
  await drawKernels();
  await readDigit(false);
}
$('reset').addEventListener('click', () => resetModel().catch((e) => { $('progress').textContent = `error: ${e.message}`; }));

// ---- keeping the work: the model in the browser's storage, and a reload mid-training asked --
async function storeModel(loaded = false) {
  if (!stepsSoFar && !loaded) return;
  try {
    const bytes = await exclusive(() => page.save());
    let text = '';
    for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    localStorage.setItem(STORED_MODEL, JSON.stringify({ model: btoa(text), steps: stepsSoFar }));
  } catch (e) {
    console.warn(`the model could not be kept for the next visit: ${e.message}`);
  }
}
async function restoreModel() {
  const stored = localStorage.getItem(STORED_MODEL);
  if (!stored) return;
  try {
    const { model, steps } = JSON.parse(stored);
    const bytes = Uint8Array.from(atob(model), (c) => c.charCodeAt(0));
    await exclusive(() => page.load(bytes));
    stepsSoFar = steps;
    $('progress').textContent = `the model trained on your last visit is back (${steps} steps); Reset starts over`;
  } catch (e) {
    localStorage.removeItem(STORED_MODEL);
    $('progress').textContent = `the model kept from your last visit could not be read (${e.message}): starting afresh`;
  }
}
window.addEventListener('beforeunload', (event) => {
  if (training) { event.preventDefault(); event.returnValue = ''; }
});

$('controls').addEventListener('submit', trainEpochs);
$('stop').addEventListener('click', () => { stopping = true; page?.stop(); });

// ---- the chart and conv1's kernels (drawn by pictures.js) -----------------------------------
function drawChart() {
  drawHistory($('chart'), history);
}

async function drawKernels() {
  drawKernelImages($('kernels'), await exclusive(() => page.kernels()));
}

// ---- the drawing canvas -----------------------------------------------------------------------
const digit = $('digit'), pen = digit.getContext('2d', { willReadFrequently: true });
function clearDigit() {
  pen.fillStyle = '#000'; pen.fillRect(0, 0, digit.width, digit.height);
  $('top3').innerHTML = ''; $('bars').replaceChildren(); $('seen').getContext('2d').clearRect(0, 0, 112, 112);
  $('features').replaceChildren(); $('lesson').replaceChildren();
}
clearDigit();
// While a stroke goes on, the digit is read at most every 200 ms and never twice at once: on a
// slow adapter readings would otherwise queue up behind the pen.
let drawing = false, lastRead = 0, readingNow = false;
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
  if (!readingNow && performance.now() - lastRead > 200) {
    lastRead = performance.now(); readingNow = true;
    readDigit(false, false).finally(() => { readingNow = false; });
  }
});
digit.addEventListener('pointerup', () => { drawing = false; readDigit(false); });
$('clear').addEventListener('click', clearDigit);

// What the network reads on the canvas: shows it and returns the ten probabilities. A blank
// canvas rejects when `strict`, and quietly shows nothing otherwise.
// `given`: 28x28 bytes to read as they are (a test image), instead of the pad prepared.
async function readDigit(strict, deep = true, given = null) {
  const { data, width, height } = pen.getImageData(0, 0, digit.width, digit.height);
  let reading;
  try {
    reading = await exclusive(() => given ? page.readInput(given) : page.predict(new Uint8Array(data.buffer), width, height));
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
  const probabilities = Array.from(reading.probabilities);
  const ranked = probabilities.map((p, c) => [c, p]).sort((a, b) => b[1] - a[1]).slice(0, 3);
  $('top3').innerHTML = ranked.map(([c, p]) => `<li>${c} — ${(100 * p).toFixed(1)}%</li>`).join('');
  // All ten, as bars: how sure the network is of each digit.
  if (deep) await showInside(reading.input);
  $('bars').replaceChildren(...probabilities.map((p, c) => {
    const row = document.createElement('div');
    row.className = 'bar';
    row.innerHTML = `<span>${c}</span><meter min="0" max="1" value="${p}"></meter><span>${(100 * p).toFixed(1)}%</span>`;
    return row;
  }));
  return probabilities;
}

// What the network and the lesson's kernels make of the drawn digit (`pictures.js`).
async function showInside(input) {
  const [maps, filtered] = await Promise.all([
    exclusive(() => page.features(input)),
    exclusive(() => page.lessonKernels(input)),
  ]);
  drawInside(maps, filtered);
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
    const name = await window.lenet.load(file);
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
  async train({ steps = 100, batchSize, learningRate, dataset } = {}) {
    await ready;
    batchSize ??= defaults.batchSize;
    learningRate ??= defaults.learningRate;
    dataset ??= $('dataset').value;
    if (training) throw new Error('busy: training is already running (one train() at a time)');
    training = true; setButtons();
    try {
      frames.reset();
      work = { total: steps, done: 0, started: performance.now() };
      const t = await trainSteps(steps, batchSize, learningRate, dataset);
      const maxFrameGapMs = frames.maxGap;
      const accuracy = await evaluate(dataset);
      await drawKernels();
      return {
        loss: t.loss, accuracy, imagesPerSecond: t.imagesPerSecond,
        trainAccuracy: t.trainAccuracy, steps: t.steps, seconds: t.seconds, maxFrameGapMs,
      };
    } finally {
      work = null;
      training = false; setButtons();
      await storeModel();
    }
  },
  // The longest gap between two frames since `frames.reset()`, in ms (`frames.maxGap`).
  frames,
  // The ten probabilities for the digit on the canvas (#digit); a blank canvas rejects.
  async predict() {
    await ready;
    return readDigit(true);
  },
  async save() {
    await ready;
    return exclusive(() => page.save());
  },
  // A model file's bytes: a Uint8Array, an ArrayBuffer or a Blob (a File from an <input>).
  async load(bytes) {
    await ready;
    if (bytes instanceof Blob) bytes = await bytes.arrayBuffer();
    if (bytes instanceof ArrayBuffer) bytes = new Uint8Array(bytes);
    if (!(bytes instanceof Uint8Array)) {
      throw new Error(`load() takes a model file's bytes (a Uint8Array, an ArrayBuffer or a Blob), got ${bytes === null ? 'null' : typeof bytes}`);
    }
    const name = await exclusive(() => page.load(bytes));
    history.length = 0; stepsSoFar = 0;
    drawChart();
    await drawKernels();
    await readDigit(false);   // the drawing as the loaded model reads it
    await storeModel(true);
    return name;
  },
  // Starts over from the seed (the Reset button).
  async reset() {
    await ready;
    if (training) throw new Error('busy: stop training first');
    await resetModel();
  },
  // { kernel: relative error } for every kernel, WebGPU against the CPU path.
  async parity(seed = Date.now()) {
    await ready;
    return exclusive(() => page.parity(seed));
  },
};
