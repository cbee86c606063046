// The web page in a real browser: Debian's Chromium, headless, driven by Playwright, with WebGPU on
// whatever adapter it finds (SwiftShader, a software one, on a machine without a GPU). Run from
// the repository root after web/build.sh and `cargo build --release`:
//
//   node web/tests/page.test.mjs
//
// Environment: LENET_BIN (the `lenet` binary; default target/release/lenet), LENET_MNIST_DIR
// (default ../shared/data/mnist), LENET_REQUIRE_WEBGPU=1 and LENET_REQUIRE_MNIST=1 (make their
// absence a failure, not a skip), CHROMIUM (default /usr/bin/chromium), LENET_ARTIFACTS (where the
// screenshot goes; default web/artifacts), LENET_TEST_SEED (the parity suite's inputs).
import { chromium } from 'playwright-core';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const bin = resolve(process.env.LENET_BIN || 'target/release/lenet');
const mnistDir = resolve(process.env.LENET_MNIST_DIR || '../shared/data/mnist');
const requireWebGpu = process.env.LENET_REQUIRE_WEBGPU === '1';
const requireMnist = process.env.LENET_REQUIRE_MNIST === '1';
const artifacts = resolve(process.env.LENET_ARTIFACTS || 'web/artifacts');
const scratch = mkdtempSync(join(tmpdir(), 'lenet-web-'));
const haveMnist = ['train-images-idx3-ubyte', 't10k-images-idx3-ubyte'].every((n) => existsSync(join(mnistDir, `${n}.gz`)));
if (!haveMnist && requireMnist) throw new Error(`LENET_REQUIRE_MNIST=1 but MNIST is not in ${mnistDir}`);
// The flags that give headless Chromium WebGPU on a software adapter, with no network use.
const FLAGS = ['--no-sandbox', '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=native',
  '--ignore-gpu-blocklist', '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--no-first-run'];

// ---- a small harness ----------------------------------------------------------------------------
const results = [];
async function test(name, body) {
  const started = Date.now();
  try {
    const skipped = await body();
    results.push([skipped === 'skip' ? 'skip' : 'ok', name]);
  } catch (e) {
    results.push(['FAIL', name]);
    console.error(`FAIL ${name}\n  ${String(e?.stack || e).split('\n').slice(0, 6).join('\n  ')}`);
  }
  console.log(`${results.at(-1)[0]} ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}
function check(condition, message) {
  if (!condition) throw new Error(message);
}
async function rejects(promise, pattern, what) {
  try {
    await promise;
  } catch (e) {
    check(pattern.test(e.message), `${what}: rejected with "${e.message}", expected ${pattern}`);
    return e.message;
  }
  throw new Error(`${what}: resolved, expected a rejection matching ${pattern}`);
}

// ---- the server and the browser -----------------------------------------------------------------
function serve(port, mnist) {
  const server = spawn(process.execPath, ['web/serve.mjs', '--port', String(port), '--mnist', mnist], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((ok, fail) => {
    server.stdout.on('data', (d) => d.toString().includes('serving') && ok(server));
    server.on('exit', (code) => fail(new Error(`the server exited (${code})`)));
  });
}
const withMnist = await serve(8931, mnistDir);
const withoutMnist = await serve(8932, join(scratch, 'no-mnist'));
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, args: FLAGS });

async function openPage(url, { withoutWebGpu = false } = {}) {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  // A browser without WebGPU, as far as the page can tell.
  if (withoutWebGpu) await page.addInitScript(() => { delete Navigator.prototype.gpu; });
  page.on('pageerror', (e) => console.error(`  page error: ${e.message}`));
  page.on('console', (m) => m.type() === 'error' && !m.text().includes('404') && console.error(`  console: ${m.text()}`));
  await page.goto(url);
  const ready = await page.evaluate(() => window.lenet.ready);
  return { page, ready, lenet: (fn, arg) => page.evaluate(fn, arg) };
}

// Draws `strokes` (lists of [x, y] on the 280x280 canvas) on #digit with pointer events.
async function draw(page, strokes) {
  await page.click('#clear');
  const box = await page.locator('#digit').boundingBox();
  const at = ([x, y]) => [box.x + (x * box.width) / 280, box.y + (y * box.height) / 280];
  for (const stroke of strokes) {
    await page.mouse.move(...at(stroke[0]));
    await page.mouse.down();
    for (const point of stroke.slice(1)) await page.mouse.move(...at(point), { steps: 4 });
    await page.mouse.up();
  }
}
const ellipse = Array.from({ length: 41 }, (_, i) => [140 + 55 * Math.sin((i / 40) * 2 * Math.PI), 140 - 85 * Math.cos((i / 40) * 2 * Math.PI)]);
const DIGITS = {
  0: [ellipse],
  1: [[[140, 45], [140, 235]]],
  7: [[[75, 55], [205, 55], [125, 235]]],
};

// ---- on WebGPU ------------------------------------------------------------------------------------
// ?backend=webgpu: on a software adapter such as SwiftShader the page would choose the CPU path.
const gpu = await openPage('http://127.0.0.1:8932/?backend=webgpu');
console.log(`WebGPU page: backend ${gpu.ready.backend}, adapter "${gpu.ready.adapter}"`);
const onWebGpu = gpu.ready.backend === 'webgpu';
if (!onWebGpu && requireWebGpu) throw new Error('LENET_REQUIRE_WEBGPU=1 but the page found no WebGPU adapter');

await test('the page says which device it trains on and that MNIST is missing', async () => {
  const status = await gpu.page.textContent('#status');
  check(onWebGpu ? /WebGPU/.test(status) : /CPU path/.test(status), `status: ${status}`);
  // On a software adapter it offers the faster CPU path, and the warm-up leaves the link there.
  if (gpu.ready.software) check(await gpu.page.locator('#status a[href="?backend=cpu"]').count() === 1, 'a link to the CPU path');
  const data = await gpu.page.textContent('#data');
  check(/not found/.test(data) && /synthetic/.test(data), `data line: ${data}`);
});

await test('on WebGPU the kernels that read a digit are made while the page loads: the first drawing reads at once', async () => {
  if (!onWebGpu) return 'skip';
  check(!/Preparing/.test(await gpu.page.textContent('#status')), 'ready says no more "preparing"');
  await draw(gpu.page, DIGITS[1]);
  // The stroke's own readings are queued first; then two readings of the same digit: with the
  // kernels made while loading, the first takes about what the second does.
  const timed = () => gpu.lenet(async () => { const t = performance.now(); const p = await window.lenet.predict(); return [performance.now() - t, p]; });
  const settle = Date.now();
  await gpu.lenet(() => window.lenet.predict());
  const settled = Date.now() - settle;
  const [[first, p], [second]] = [await timed(), await timed()];
  await gpu.lenet(() => window.lenet.frames.reset());
  await draw(gpu.page, DIGITS[7]);
  await gpu.lenet(() => window.lenet.predict());
  console.log(`  the longest frame gap while drawing a 7 and reading it on WebGPU: ${Math.round(await gpu.lenet(() => window.lenet.frames.maxGap))} ms`);
  console.log(`  warm-up while loading ${Math.round(gpu.ready.warmUpMs)} ms; the stroke's readings done ${settled} ms after it, a reading took ${Math.round(first)} ms, the next ${Math.round(second)} ms (feature maps included)`);
  check(p.length === 10, `probabilities ${p}`);
});

await test('parity: every kernel on WebGPU within 1e-4 of the CPU path compiled to wasm', async () => {
  if (!onWebGpu) return 'skip';
  const seed = Number(process.env.LENET_TEST_SEED || Date.now() % 1e9);
  console.log(`  parity seed ${seed} (replay with LENET_TEST_SEED=${seed})`);
  const errors = await gpu.lenet((s) => window.lenet.parity(s), seed);
  // 17 kernels, and the 5 a training step fuses them into.
  const fused = ['conv_forward_pool', 'conv_backward', 'dense_backward', 'conv_backward_params_update',
    'dense_backward_params_update'];
  const names = Object.keys(errors);
  check(names.length === 22 && fused.every((k) => names.includes(k)), `22 kernels, got ${names.join(', ')}`);
  const bad = Object.entries(errors).filter(([, e]) => !(e <= 1e-4));
  check(bad.length === 0, `over 1e-4: ${JSON.stringify(bad)}`);
});

await test('training on WebGPU: 200 steps reach 90% on held-out synthetic digits', async () => {
  const r = await gpu.lenet(() => window.lenet.train({ steps: 200, batchSize: 16, learningRate: 0.02, dataset: 'synthetic' }));
  console.log(`  ${JSON.stringify(r)}`);
  check(r.accuracy >= 0.9 && r.accuracy <= 1, `accuracy ${r.accuracy}`);
  check(Number.isFinite(r.loss) && r.imagesPerSecond > 0, `loss ${r.loss}, images/s ${r.imagesPerSecond}`);
});

await test('Stop on WebGPU tells the steps that ran, at least those the progress line showed', async () => {
  if (!onWebGpu) return 'skip';
  const run = gpu.lenet(() => window.lenet.train({ steps: 400, batchSize: 16, dataset: 'synthetic' }).then(() => 'finished', (e) => e.message));
  await gpu.page.waitForFunction(() => /step ([3-9]|\d\d+) of 400/.test(document.getElementById('progress').textContent), null, { timeout: 300000 });
  const shown = Number(/step (\d+) of 400/.exec(await gpu.page.textContent('#progress'))[1]);
  await gpu.page.click('#stop');
  const message = await run;
  console.log(`  progress showed ${shown} steps; ${message}`);
  const ran = Number(/interrupted after (\d+) steps/.exec(message)?.[1]);
  check(ran >= shown && ran < 400, `stopped: ${message} (shown ${shown})`);
});

await test('a train() while another runs rejects; the first one finishes', async () => {
  const both = await gpu.lenet(async () => {
    const first = window.lenet.train({ steps: 4, batchSize: 8 });
    const second = await window.lenet.train({ steps: 4, batchSize: 8 }).then(() => 'resolved', (e) => e.message);
    return [second, (await first).loss];
  });
  check(/busy/.test(both[0]), `second call: ${both[0]}`);
  check(Number.isFinite(both[1]), `first call's loss: ${both[1]}`);
});

await test('"mnist" without its files rejects with a clear message', async () => {
  await rejects(gpu.lenet(() => window.lenet.train({ steps: 1, dataset: 'mnist' })), /MNIST is not loaded/, 'train on mnist');
});

await test('predict() on a blank canvas rejects', async () => {
  await gpu.page.click('#clear');
  await rejects(gpu.lenet(() => window.lenet.predict()), /blank/, 'predict');
});

await test('save() writes a model that `lenet eval` reads, with the run described', async () => {
  const bytes = await gpu.lenet(async () => Array.from(await window.lenet.save()));
  const file = join(scratch, 'page.safetensors');
  writeFileSync(file, Buffer.from(bytes));
  const out = execFileSync(bin, ['eval', '--model', file, '--device', 'cpu', '--limit-test', '500'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  check(/test accuracy: \d+\.\d+%/.test(out), `lenet eval printed: ${out.slice(0, 300)}`);
  const header = JSON.parse(Buffer.from(bytes.slice(8, 8 + Number(new DataView(new Uint8Array(bytes.slice(0, 8)).buffer).getBigUint64(0, true)))).toString());
  const meta = header.__metadata__;
  check(meta.dataset === "synthetic" && meta.architecture && meta.seed === "1", `metadata: ${JSON.stringify(meta)}`);
});

await test('digits drawn with the pointer are read right by a model `lenet train` saved, loaded in the page', async () => {
  if (!haveMnist) return 'skip';
  const model = join(scratch, 'cli.safetensors');
  execFileSync(bin, ['train', '--dataset', 'mnist', '--data-dir', mnistDir, '--device', 'cpu', '--epochs', '1', '--save', model], { stdio: 'ignore' });
  const name = await gpu.lenet((b) => window.lenet.load(new Uint8Array(b)), Array.from(readFileSync(model)));
  check(name === 'LeNet-5', `loaded ${name}`);
  for (const [digit, strokes] of Object.entries(DIGITS)) {
    await draw(gpu.page, strokes);
    const p = await gpu.lenet(() => window.lenet.predict());
    const best = p.indexOf(Math.max(...p));
    console.log(`  drew ${digit}: read ${best} (${(100 * p[best]).toFixed(1)}%)`);
    check(p.length === 10 && Math.abs(p.reduce((a, b) => a + b) - 1) < 1e-4, `probabilities ${p}`);
    check(best === Number(digit), `drew ${digit}, read ${best}: ${p.map((v) => v.toFixed(3))}`);
  }
  mkdirSync(artifacts, { recursive: true });
  await gpu.page.screenshot({ path: join(artifacts, 'page.png'), fullPage: true });
  console.log(`  screenshot: ${join(artifacts, 'page.png')}`);
});

// ---- on the CPU path compiled to wasm, with MNIST served beside the page ----------------------------
const cpu = await openPage('http://127.0.0.1:8931/?backend=cpu');
await test('the CPU path in the browser: 300 steps reach 95% on synthetic digits, frames keep coming', async () => {
  check(cpu.ready.backend === 'cpu', `backend ${cpu.ready.backend}`);
  const r = await cpu.lenet(() => window.lenet.train({ steps: 300, batchSize: 64, learningRate: 0.01, dataset: 'synthetic' }));
  console.log(`  ${JSON.stringify(r)}`);
  check(r.accuracy >= 0.95, `accuracy ${r.accuracy}`);
});

await test("the Train button trains a share of an epoch, showing progress, and ends with the test accuracy", async () => {
  // The fields start at the library's defaults (TrainConfig::default, through page.info()).
  const fields = [await cpu.page.inputValue('#batch'), await cpu.page.inputValue('#lr')];
  check(fields[0] === '64' && fields[1] === '0.01', `batch and rate fields start at ${fields}`);
  await cpu.page.fill('#epochs', '0.2');
  await cpu.page.selectOption('#dataset', 'synthetic');
  await cpu.page.click('#train');
  await cpu.page.waitForFunction(() => /test acc \d+\.\d+%|error/.test(document.getElementById('progress').textContent), null, { timeout: 120000 });
  const line = await cpu.page.textContent('#progress');
  console.log(`  ${line}`);
  check(/epoch 1\/1 · step (\d+) of \1 · loss \d\.\d+ · train acc/.test(line), `progress: ${line}`);
  check(await cpu.page.isEnabled('#train'), 'Train is enabled again');
  // After the epoch: its confusion matrix (rows the true digit) and its most confident mistakes.
  const cells = await cpu.lenet(() => [...document.querySelectorAll('#confusion td')].map((td) => Number(td.textContent)));
  const total = cells.reduce((a, b) => a + b, 0), right = cells.filter((_, i) => i % 11 === 0).reduce((a, b) => a + b, 0);
  const accuracy = Number(/test acc (\d+\.\d+)%/.exec(line)[1]);
  check(cells.length === 100 && Math.abs((100 * right) / total - accuracy) < 0.01, `confusion ${total} images, ${right} right, vs ${accuracy}%`);
  const shown = await cpu.page.locator('#mistakes button').count();
  check(shown === Math.min(8, total - right), `${shown} mistakes shown of ${total - right}`);
  if (shown) {
    await cpu.page.click('#mistakes button');
    await cpu.page.waitForFunction(() => document.querySelectorAll('#top3 li').length === 3);
    const read = await cpu.page.textContent('#top3 li');
    const label = await cpu.page.textContent('#mistakes button span');
    console.log(`  a mistake (${label}) drawn in the pad reads ${read}`);
    check(read.startsWith(`${label.split(' → ')[1]} — `), `the pad reads the mistake as the scoring did: ${label}, ${read}`);
  }
});

await test('the progress line says "step N of M" and the time left within a second of Train, and Stop tells the steps that ran', async () => {
  await cpu.page.fill('#epochs', '1');
  await cpu.page.selectOption('#dataset', 'synthetic');
  const started = Date.now();
  await cpu.page.click('#train');
  await cpu.page.waitForFunction(() => /step \d+ of \d+/.test(document.getElementById('progress').textContent), null, { timeout: 60000 });
  const first = Date.now() - started;
  await cpu.page.waitForFunction(() => /step ([1-9]\d*) of \d+ .*left/.test(document.getElementById('progress').textContent), null, { timeout: 60000 });
  const line = await cpu.page.textContent('#progress');
  console.log(`  first progress line ${first} ms after Train: ${line}`);
  const points = await cpu.lenet(() => document.getElementById('chart').width > 0);
  check(points, 'the chart is drawn');
  await cpu.page.click('#stop');
  await cpu.page.waitForFunction(() => /stopped|test acc/.test(document.getElementById('progress').textContent), null, { timeout: 60000 });
  const stopped = await cpu.page.textContent('#progress');
  console.log(`  ${stopped}`);
  const ran = Number(/stopped after (\d+) steps of \d+/.exec(stopped)?.[1]);
  check(ran >= Number(/step (\d+) of/.exec(line)[1]), `stop: ${stopped} (before: ${line})`);
  check(await cpu.page.isEnabled('#train'), 'Train is enabled again');
});

await test('each field is checked as it is typed, in the library\'s words, and a bad one trains nothing', async () => {
  const before = await cpu.page.textContent('#progress');
  await cpu.page.fill('#lr', '0');
  check(/learning rate must be a positive number, got 0/.test(await cpu.page.textContent('#form-error')), 'lr 0');
  await cpu.page.fill('#epochs', '');
  await cpu.page.click('#train');
  const error = await cpu.page.textContent('#form-error');
  check(/epochs is empty/.test(error) && /learning rate/.test(error), `form error: ${error}`);
  check(await cpu.page.textContent('#progress') === before, 'nothing trained');
  await cpu.page.fill('#lr', '0.01');
  await cpu.page.fill('#epochs', '1');
  check(await cpu.page.textContent('#form-error') === '', 'the reasons go when the fields are fixed');
});

await test('MNIST served beside the page is found and trains', async () => {
  if (!haveMnist) return 'skip';
  const data = await cpu.page.textContent('#data');
  check(/MNIST served beside the page: 60000 train/.test(data), `data line: ${data}`);
  const r = await cpu.lenet(() => window.lenet.train({ steps: 200, batchSize: 64, learningRate: 0.01, dataset: 'mnist' }));
  console.log(`  ${JSON.stringify(r)}`);
  check(r.steps === 200, `${r.steps} steps of 200: a Train click stopped earlier limits no later call`);
  check(r.accuracy >= 0.85, `accuracy ${r.accuracy}`);
});

await test('train() uses the data the page has selected unless told', async () => {
  if (!haveMnist) return 'skip';
  await cpu.page.selectOption('#dataset', 'mnist');
  await cpu.lenet(() => window.lenet.train({ steps: 3 }));
  const bytes = await cpu.lenet(async () => Array.from(await window.lenet.save()));
  const header = JSON.parse(Buffer.from(bytes.slice(8, 8 + Number(new DataView(new Uint8Array(bytes.slice(0, 8)).buffer).getBigUint64(0, true)))).toString());
  check(header.__metadata__.dataset === 'mnist', `trained on ${header.__metadata__.dataset}`);
});

await test('Reset starts over from the seed; a reload keeps the trained model; load() takes bytes, buffers and blobs', async () => {
  const lab = await openPage('http://127.0.0.1:8932/?backend=cpu');
  await lab.lenet(() => window.lenet.frames.reset());
  await draw(lab.page, DIGITS[7]);
  const initial = await lab.lenet(() => window.lenet.predict());
  console.log(`  the longest frame gap while drawing a 7 and reading it on the CPU path: ${Math.round(await lab.lenet(() => window.lenet.frames.maxGap))} ms`);
  // What the network sees in it: conv1's 6 maps, pool1's 6, conv2's 16, pool2's 16; and the
  // lesson's four kernels on it.
  await lab.page.waitForFunction(() => document.querySelectorAll('#lesson canvas').length === 4);
  const maps = await lab.lenet(() => [...document.querySelectorAll('#features figure')].map((f) => f.querySelectorAll('canvas').length));
  check(maps.join() === '6,6,16,16', `feature maps: ${maps}`);
  const bars = await lab.page.locator('#bars .bar').count();
  const top = await lab.page.textContent('#top3 li');
  check(bars === 10 && /^\d — \d+\.\d%$/.test(top), `${bars} bars, first ranked "${top}"`);
  await lab.lenet(() => window.lenet.train({ steps: 30, batchSize: 32 }));
  const trained = await lab.lenet(() => window.lenet.predict());
  check(trained.some((p, i) => p !== initial[i]), 'training changed the reading');
  // A reload: the model is back, and reads the same digit the same.
  await lab.page.reload();
  await lab.page.evaluate(() => window.lenet.ready);
  const back = await lab.page.textContent('#progress');
  check(/last visit is back \(30 steps\)/.test(back), `after a reload: ${back}`);
  await draw(lab.page, DIGITS[7]);
  const reloaded = await lab.lenet(() => window.lenet.predict());
  check(reloaded.every((p, i) => p === trained[i]), 'the same model after a reload');
  // A rate far too high diverges: the library puts the model back, and it still reads digits.
  await rejects(lab.lenet(() => window.lenet.train({ steps: 20, batchSize: 32, learningRate: 50 })), /diverged/, 'lr 50');
  const after = await lab.lenet(() => window.lenet.predict());
  check(after.every(Number.isFinite), `after divergence: ${after}`);
  // Reset: the seed's network again.
  await lab.page.click('#reset');
  await lab.page.waitForFunction(() => /reset/.test(document.getElementById('progress').textContent));
  const reset = await lab.lenet(() => window.lenet.predict());
  check(reset.every((p, i) => p === initial[i]), `after Reset ${reset} vs ${initial}`);
  // load(): a Uint8Array, an ArrayBuffer, a Blob; anything else rejects saying what it takes.
  const kinds = await lab.lenet(async () => {
    const bytes = await window.lenet.save();
    return [await window.lenet.load(bytes), await window.lenet.load(bytes.buffer.slice(0)), await window.lenet.load(new Blob([bytes]))];
  });
  check(kinds.every((k) => k === 'LeNet-5'), `loaded ${kinds}`);
  await rejects(lab.lenet(() => window.lenet.load()), /takes a model file's bytes/, 'load()');
  await rejects(lab.lenet(() => window.lenet.load(42)), /takes a model file's bytes.*number/, 'load(42)');
  // Screenshots at a desktop's width and a phone's: on the phone the drawing pad comes first.
  mkdirSync(artifacts, { recursive: true });
  await lab.page.setViewportSize({ width: 1280, height: 900 });
  await lab.page.screenshot({ path: join(artifacts, 'page-1280.png'), fullPage: true });
  await lab.page.setViewportSize({ width: 390, height: 844 });
  await lab.lenet(() => window.lenet.train({ steps: 2, batchSize: 32 }));
  await lab.page.screenshot({ path: join(artifacts, 'page-390.png'), fullPage: true });
  const tops = await lab.lenet(() => ['digit', 'chart'].map((id) => document.getElementById(id).getBoundingClientRect().top));
  check(tops[0] < tops[1], `at 390 px the pad (top ${tops[0]}) comes before the chart (${tops[1]})`);
  const chart = await lab.lenet(() => [document.getElementById('chart').clientWidth, document.getElementById('chart').width / devicePixelRatio]);
  check(chart[0] <= 390 && Math.abs(chart[0] - chart[1]) < 2, `the chart is drawn at its shown width: ${chart}`);
  await lab.page.close();
});

await test('on a software WebGPU adapter the page trains on the CPU path by default and says why', async () => {
  if (!onWebGpu || !gpu.ready.software) return 'skip';
  const auto = await openPage('http://127.0.0.1:8932/');
  const status = await auto.page.textContent('#status');
  check(auto.ready.backend === 'cpu' && /software/.test(status), `backend ${auto.ready.backend}: ${status}`);
  check(await auto.page.locator('#status a[href="?backend=webgpu"]').count() === 1, 'a link to WebGPU anyway');
  check(/on your CPU/.test(await auto.page.textContent('h1')), 'the title says CPU');
  await auto.page.close();
});

await test('without WebGPU the page says so and trains on the CPU path compiled to wasm', async () => {
  const bare = await openPage('http://127.0.0.1:8932/', { withoutWebGpu: true });
  check(bare.ready.backend === 'cpu', `backend ${bare.ready.backend}`);
  const status = await bare.page.textContent('#status');
  check(/No WebGPU here \(this browser has no WebGPU\).*CPU path/.test(status), `status: ${status}`);
  const r = await bare.lenet(() => window.lenet.train({ steps: 20, batchSize: 32 }));
  check(Number.isFinite(r.loss) && r.accuracy > 0.1, `${JSON.stringify(r)}`);
  await bare.page.close();
});

await browser.close();
withMnist.kill();
withoutMnist.kill();
const failed = results.filter(([r]) => r === 'FAIL').length;
console.log(`web page: ${results.filter(([r]) => r === 'ok').length} passed, ${failed} failed, ${results.filter(([r]) => r === 'skip').length} skipped`);
process.exit(failed ? 1 : 0);
