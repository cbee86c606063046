// The page's pictures: the training chart, conv1's kernels, the confusion matrix and mistakes
// after an epoch, and the feature maps and the lesson's kernels of the drawn digit. Drawing only: the
// numbers come from the wasm module, through app.js.

const $ = (id) => document.getElementById(id);

// After an epoch: the confusion matrix and the most confident mistakes, each a button calling
// `pick(canvas, image)` (its 28x28 picture and bytes).
export function showScore({ classes, confusion, mistakes }, pick) {
  const table = $('confusion');
  const rows = Array.from({ length: classes }, (_, a) => confusion.subarray(a * classes, (a + 1) * classes));
  const largest = Math.max(...rows.flatMap((row, a) => Array.from(row).filter((_, p) => p !== a)), 1);
  table.innerHTML = `<tr><th></th>${rows.map((_, p) => `<th>${p}</th>`).join('')}</tr>` + rows.map((row, a) =>
    `<tr><th>${a}</th>${Array.from(row).map((n, p) => {
      // The diagonal (right) in green; mistakes in red, the more the darker.
      const style = p === a ? 'background:#dfd' : n ? `background:rgba(200,40,40,${(0.15 + 0.6 * n / largest).toFixed(2)})` : '';
      return `<td style="${style}">${n}</td>`;
    }).join('')}</tr>`).join('');
  const list = $('mistakes');
  list.replaceChildren(...mistakes.map((m) => {
    const button = document.createElement('button');
    button.type = 'button';
    button.title = `a ${m.label}, read as ${m.predicted} (${(100 * m.confidence).toFixed(1)}%): click to draw it in the pad`;
    const c = document.createElement('canvas');
    c.width = c.height = 28;
    const g = c.getContext('2d'), image = g.createImageData(28, 28);
    m.image.forEach((v, i) => image.data.set([v, v, v, 255], 4 * i));
    g.putImageData(image, 0, 0);
    button.append(c, Object.assign(document.createElement('span'), { textContent: `${m.label} → ${m.predicted}` }));
    button.addEventListener('click', () => pick(c, m.image));
    return button;
  }));
  $('score').hidden = false;
}

// What the network and the lesson's kernels make of the drawn digit: every feature map of conv1
// and conv2 (and their pools), and four hand-made kernels, each on its own gray scale.
export function drawInside(maps, filtered) {
  $('features').replaceChildren(...maps.map((m) => {
    const figure = document.createElement('figure');
    const size = m.height >= 20 ? 56 : m.height >= 10 ? 40 : 28;
    for (let c = 0; c < m.channels; c++) {
      const values = m.values.subarray(c * m.height * m.width, (c + 1) * m.height * m.width);
      figure.append(plane(values, m.width, m.height, size));
    }
    figure.append(Object.assign(document.createElement('figcaption'), { textContent: `${m.label}: ${m.channels} maps of ${m.height}x${m.width}` }));
    return figure;
  }));
  $('lesson').replaceChildren(...filtered.map((f) => {
    const figure = document.createElement('figure');
    figure.title = f.does;
    figure.append(plane(f.pixels, f.width, f.height, 84, true),
      Object.assign(document.createElement('figcaption'), { textContent: f.name }));
    return figure;
  }));
}
// A plane of values as a canvas `size` pixels wide: light high, dark low (0 black for feature
// maps, which ReLU keeps at 0 or above), or gray levels as given (`gray`).
function plane(values, width, height, size, gray = false) {
  const c = document.createElement('canvas');
  c.width = width; c.height = height; c.style.width = `${size}px`; c.style.height = `${Math.round(size * height / width)}px`;
  const g = c.getContext('2d'), image = g.createImageData(width, height);
  const top = gray ? 255 : Math.max(...values, 1e-6);
  values.forEach((v, i) => { const level = Math.round((255 * Math.max(0, v)) / top); image.data.set([level, level, level, 255], 4 * i); });
  g.putImageData(image, 0, 0);
  return c;
}

// ---- the chart: loss (left axis) and accuracy (right axis, 0..100%) by step ------------------
// `history`: { step, loss, trainAccuracy, testAccuracy? } points.
export function drawHistory(c, history) {
  // Drawn at the size it is shown (device pixels), so its text stays 12 px on a phone too.
  const g = c.getContext('2d'), dpr = window.devicePixelRatio || 1;
  const width = c.clientWidth || 640, height = Math.round(Math.min(240, Math.max(180, width * 0.4)));
  if (c.width !== Math.round(width * dpr) || c.height !== Math.round(height * dpr)) {
    c.width = Math.round(width * dpr); c.height = Math.round(height * dpr); c.style.height = `${height}px`;
  }
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  const pad = { l: 48, r: 48, t: 12, b: 42 };
  const w = width - pad.l - pad.r, h = height - pad.t - pad.b;
  g.clearRect(0, 0, width, height);
  g.font = '12px system-ui, sans-serif';
  g.strokeStyle = '#999'; g.strokeRect(pad.l, pad.t, w, h);
  if (!history.length) return;
  const maxStep = history[history.length - 1].step, maxLoss = Math.max(...history.map((p) => p.loss), 1e-6);
  const x = (s) => pad.l + (w * s) / maxStep;
  const yLoss = (v) => pad.t + h - (h * v) / maxLoss;
  const yAcc = (v) => pad.t + h - h * v;
  const line = (points, y, colour) => {
    g.strokeStyle = g.fillStyle = colour; g.lineWidth = 1.5; g.beginPath();
    points.forEach((p, i) => (i ? g.lineTo : g.moveTo).call(g, x(p.step), y(p)));
    g.stroke();
    if (points.length === 1) { g.beginPath(); g.arc(x(points[0].step), y(points[0]), 2.5, 0, 2 * Math.PI); g.fill(); }
  };
  line(history, (p) => yLoss(p.loss), '#c33');
  line(history, (p) => yAcc(p.trainAccuracy), '#39c');
  g.fillStyle = '#063';
  for (const p of history.filter((p) => p.testAccuracy !== undefined)) {
    g.beginPath(); g.arc(x(p.step), yAcc(p.testAccuracy), 3.5, 0, 2 * Math.PI); g.fill();
  }
  g.fillStyle = '#333';
  g.fillText(maxLoss.toFixed(2), 4, pad.t + 8); g.fillText('0', pad.l - 12, pad.t + h);
  g.fillText('100%', width - pad.r + 4, pad.t + 8); g.fillText('0%', width - pad.r + 4, pad.t + h);
  // The last step under the axis' right end, the legend on the line below.
  g.textAlign = 'right'; g.fillText(`step ${maxStep}`, width - pad.r, pad.t + h + 15); g.textAlign = 'left';
  g.fillText('step 0', pad.l, pad.t + h + 15);
  g.fillStyle = '#c33'; g.fillText('loss', pad.l + 6, height - 8);
  g.fillStyle = '#39c'; g.fillText('train accuracy', pad.l + 40, height - 8);
  g.fillStyle = '#063'; g.fillText('● test accuracy', pad.l + 140, height - 8);
}

// ---- conv1's kernels: each on one gray scale, mid-gray 0 ------------------------------------
// `k`: { count, height, width, values } (the module's `kernels()`).
export function drawKernelImages(c, k) {
  const g = c.getContext('2d');
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
