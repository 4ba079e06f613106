// vae_tf latent explorer: the page written by `python -m vae_tf.explore`.
// It reads window.VAE_EXPLORER_DATA (data.js) and decodes codes with each run's own decoder weights,
// by a forward pass written here (Dense, Conv2D, Conv2DTranspose, Cropping2D, ZeroPadding2D and
// activations, channels-last, row-major), which tests/test_explore.py checks against Keras.
(function () {
  "use strict";

  const DATA = window.VAE_EXPLORER_DATA;
  const TAB10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
  const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  const PLANE = 320;      // the plane's side, CSS pixels
  const MARGIN = 0.05;    // room around the codes, as a fraction of their range
  const PICK = 10;        // how near (pixels) a click must be to a point to select it

  // --- decoding ---------------------------------------------------------------------------

  function bytes(base64) {
    const text = atob(base64);
    const out = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
    return out;
  }
  function floats(base64) { return new Float32Array(bytes(base64).buffer); }  // little-endian, as written
  function size(shape) { return shape.reduce((a, b) => a * b, 1); }

  const ACTIVATIONS = {
    linear: null,
    relu: (v) => (v > 0 ? v : 0),
    sigmoid: (v) => 1 / (1 + Math.exp(-v)),
    tanh: Math.tanh,
    softplus: (v) => Math.log1p(Math.exp(-Math.abs(v))) + Math.max(v, 0),
    elu: (v) => (v > 0 ? v : Math.expm1(v)),
    silu: (v) => v / (1 + Math.exp(-v)),
    // The continuous Bernoulli's mean of logits v (a decoder's last step for that likelihood):
    // 1 / (1 - exp(-v)) - 1 / v, and its series near 0 (TensorFlow Probability's formula).
    continuous_bernoulli_mean: (v) => (Math.abs(v) < 1e-3 ? 0.5 + v / 12 - v * v * v / 720
      : v < -40 ? -1 / v : 1 / (1 - Math.exp(-v)) - 1 / v),
  };

  function activate(buffer, name) {
    const f = ACTIVATIONS[name];
    if (f === undefined) throw new Error("unknown activation " + name);
    if (f === null) return;
    for (let i = 0; i < buffer.length; i++) buffer[i] = f(buffer[i]);
  }

  // The convolutions' inner loop in WebAssembly with SIMD (conv.wat beside this file, assembled by
  // docs/build_explorer_wasm.py): about 8 times the plain loop's speed. Where a browser lacks it, or
  // a layer's output channels are not a multiple of 4, the plain JavaScript loop below computes it.
  const CONV_WASM = "AGFzbQEAAAABFAFgEH9/f39/f39/f39/f39/f38AAg8BA2VudgZtZW1vcnkCAAEDAgEABwgBBGNvbnYAAAqJAwGGAwMNfwF9AXtBACEQAkADQCAQIANODQFBACERAkADQCARIARODQFBACESAkADQCASIAlODQEgECALbCASaiANayEUIBRBAE4gFCAFSHEEQEEAIRMCQANAIBMgCk4NASARIAxsIBNqIA5rIRUgFUEATiAVIAZIcQRAIA8EQCAQIARsIBFqIAdsIRYgFCAGbCAVaiAIbCEXBSAUIAZsIBVqIAdsIRYgECAEbCARaiAIbCEXCyASIApsIBNqIAdsIAhsIRhBACEZAkADQCAZIAdODQEgACAWIBlqQQJ0aioCACEdIB1DAAAAAFwEQCAd/RMhHiACIBggGSAIbGpBAnRqIRogASAXQQJ0aiEbIBsgCEECdGohHAJAA0AgGyAcTw0BIBsgG/0ABAAgHiAa/QAEAP3mAf3kAf0LBAAgG0EQaiEbIBpBEGohGgwACwsLIBlBAWohGQwACwsLIBNBAWohEwwACwsLIBJBAWohEgwACwsgEUEBaiERDAALCyAQQQFqIRAMAAsLCw==";
  const CONV_MODULE = (() => {
    try {
      const code = bytes(CONV_WASM);
      return WebAssembly.validate(code) ? new WebAssembly.Module(code) : null;
    } catch (error) {
      return null;
    }
  })();
  const engine = { wasm: CONV_MODULE !== null };

  // A decoder's buffers (its input, each layer's output, the convolutions' kernels) are views of
  // one WebAssembly memory, allocated once: a decode allocates nothing.
  function arena(floatsNeeded) {
    if (!CONV_MODULE) return { alloc: (n) => new Float32Array(n), instance: null };
    const memory = new WebAssembly.Memory({ initial: Math.ceil(4 * (floatsNeeded + 64) / 65536) + 1 });
    const heap = new Float32Array(memory.buffer);
    let next = 0;
    return {
      alloc(n) { const view = heap.subarray(next, next + n); next += n + ((4 - (n % 4)) % 4); return view; },
      instance: new WebAssembly.Instance(CONV_MODULE, { env: { memory } }),
    };
  }

  function layerOf(spec, memory) {
    const out = memory.alloc(size(spec.out));
    if (spec.kind === "dense") {
      const W = floats(spec.kernel), b = floats(spec.bias), n = spec.in[0], m = spec.out[0];
      return (x) => {
        out.set(b);
        for (let i = 0; i < n; i++) {
          const xi = x[i];
          if (xi === 0) continue;  // after a relu, most inputs are 0
          const row = i * m;
          for (let j = 0; j < m; j++) out[j] += xi * W[row + j];
        }
        activate(out, spec.activation);
        return out;
      };
    }
    if (spec.kind === "conv2d" || spec.kind === "conv2d_transpose") {
      // kernel (kh, kw, in, out); pad: rows/columns padded before the first, as TensorFlow pads.
      const kernel = floats(spec.kernel), K = memory.alloc(kernel.length), b = floats(spec.bias);
      K.set(kernel);
      const [IH, IW, CI] = spec.in, [OH, OW, CO] = spec.out;
      const [kh, kw] = spec.kernel_size, [sh, sw] = spec.strides, [pt, pl] = spec.pad;
      const transpose = spec.kind === "conv2d_transpose";
      // Transposed: every input pixel adds its kernel-weighted values to the outputs it reaches;
      // direct: every output pixel gathers from the inputs under its kernel. Same indexing: the
      // loop runs over grid A, and A's pixel a meets B's pixel a*s + kernel offset - pad.
      const [AH, AW, BH, BW] = transpose ? [IH, IW, OH, OW] : [OH, OW, IH, IW];
      const wasm = memory.instance && CO % 4 === 0 ? memory.instance.exports.conv : null;
      return (x) => {
        for (let p = 0; p < OH * OW; p++) out.set(b, p * CO);
        if (wasm && engine.wasm && x.buffer === out.buffer) {
          wasm(x.byteOffset, out.byteOffset, K.byteOffset, AH, AW, BH, BW, CI, CO, kh, kw, sh, sw, pt, pl,
               transpose ? 1 : 0);
        } else {
          for (let ay = 0; ay < AH; ay++) {
            for (let ax = 0; ax < AW; ax++) {
              for (let ky = 0; ky < kh; ky++) {
                const by = ay * sh + ky - pt;
                if (by < 0 || by >= BH) continue;
                for (let kx = 0; kx < kw; kx++) {
                  const bx = ax * sw + kx - pl;
                  if (bx < 0 || bx >= BW) continue;
                  const xo = transpose ? (ay * AW + ax) * CI : (by * BW + bx) * CI;
                  const oo = transpose ? (by * BW + bx) * CO : (ay * AW + ax) * CO;
                  const ko = (ky * kw + kx) * CI * CO;
                  for (let ci = 0; ci < CI; ci++) {
                    const xv = x[xo + ci];
                    if (xv === 0) continue;
                    const kc = ko + ci * CO;
                    for (let co = 0; co < CO; co++) out[oo + co] += xv * K[kc + co];
                  }
                }
              }
            }
          }
        }
        activate(out, spec.activation);
        return out;
      };
    }
    if (spec.kind === "crop" || spec.kind === "pad") {
      const [IH, IW, C] = spec.in, [OH, OW] = spec.out;
      const sign = spec.kind === "crop" ? 1 : -1, dy = sign * spec.top, dx = sign * spec.left;
      return (x) => {
        out.fill(0);
        for (let oy = 0; oy < OH; oy++) {
          const iy = oy + dy;
          if (iy < 0 || iy >= IH) continue;
          for (let ox = 0; ox < OW; ox++) {
            const ix = ox + dx;
            if (ix < 0 || ix >= IW) continue;
            for (let c = 0; c < C; c++) out[(oy * OW + ox) * C + c] = x[(iy * IW + ix) * C + c];
          }
        }
        return out;
      };
    }
    if (spec.kind === "activation") {
      return (x) => { out.set(x); activate(out, spec.activation); return out; };
    }
    throw new Error("the page cannot compute a layer of kind " + spec.kind);
  }

  function decoderOf(spec) {
    let floatsNeeded = spec.latent_dim;
    for (const layer of spec.layers) {
      floatsNeeded += size(layer.out) + 4;
      if (layer.kind.startsWith("conv2d")) floatsNeeded += layer.kernel_size[0] * layer.kernel_size[1] * layer.in[2] * layer.out[2] + 4;
    }
    const memory = arena(floatsNeeded), input = memory.alloc(spec.latent_dim);
    const layers = spec.layers.map((layer) => layerOf(layer, memory));
    return (z) => {
      for (let i = 0; i < input.length; i++) input[i] = z[i] || 0;
      let x = input;
      for (const layer of layers) x = layer(x);
      return x;  // the last layer's buffer: copy it to keep it
    };
  }

  // --- the data ---------------------------------------------------------------------------

  const datasets = DATA.datasets.map((d) => ({
    shape: d.image_shape, classNames: d.class_names, count: d.count,
    images: bytes(d.images), labels: d.labels === null ? null : bytes(d.labels),
  }));

  const panels = DATA.panels.map((p, index) => {
    const members = p.members.map((m) => ({
      title: m.title, path: m.path, beta: m.beta, latentDim: m.latent_dim,
      decode: decoderOf(m.decoder), codes: floats(m.codes), count: m.count,
      epochs: m.snapshots ? m.snapshots.epochs : null,
      frames: m.snapshots ? floats(m.snapshots.z_mean) : null,
      frameCount: m.snapshots ? m.snapshots.count : 0,
    }));
    members.forEach((m) => { m.epoch = m.epochs ? m.epochs.length - 1 : 0; });
    return { index, kind: p.kind, title: p.title, path: p.path, dataset: datasets[p.dataset],
             members, current: p.initial };
  });

  const maxDim = Math.max(...panels.flatMap((p) => p.members.map((m) => m.latentDim)));
  const minDim = Math.min(...panels.flatMap((p) => p.members.map((m) => m.latentDim)));
  const state = {
    z: new Float64Array(maxDim), dims: [0, minDim > 1 ? 1 : -1], shared: false,
    selected: -1, selectedDataset: null, dirty: true, decodeMs: [], frames: 0,
  };

  function memberOf(panel) { return panel.members[panel.current]; }

  // The codes on show: a snapshot of the epoch slider's epoch, or (last epoch) the final codes.
  function shownCodes(m) {
    if (m.epochs && m.epoch < m.epochs.length - 1) {
      const n = m.frameCount, d = m.latentDim;
      return { codes: m.frames.subarray(m.epoch * n * d, (m.epoch + 1) * n * d), count: n };
    }
    return { codes: m.codes, count: m.count };
  }

  function jitter(i) { return ((Math.sin(i * 12.9898) * 43758.5453) % 1 + 1) % 1 - 0.5; }

  function coordinate(codes, d, i, dim) { return dim < 0 ? jitter(i) : codes[i * d + dim]; }

  // The range of the member's codes in the chosen dimensions, over every epoch (axes that hold still).
  function extentOf(m) {
    const key = state.dims.join(",");
    if (m.extentKey === key) return m.extent;
    const e = [Infinity, -Infinity, Infinity, -Infinity], d = m.latentDim;
    const scan = (codes, n) => {
      for (let i = 0; i < n; i++) {
        const x = coordinate(codes, d, i, state.dims[0]), y = coordinate(codes, d, i, state.dims[1]);
        if (x < e[0]) e[0] = x; if (x > e[1]) e[1] = x; if (y < e[2]) e[2] = y; if (y > e[3]) e[3] = y;
      }
    };
    scan(m.codes, m.count);
    if (m.frames) scan(m.frames, m.frameCount * m.epochs.length);
    m.extent = e; m.extentKey = key;
    return e;
  }

  function axesOf(panel) {
    let e = extentOf(memberOf(panel));
    if (state.shared) {
      e = panels.map((p) => extentOf(memberOf(p))).reduce((a, b) =>
        [Math.min(a[0], b[0]), Math.max(a[1], b[1]), Math.min(a[2], b[2]), Math.max(a[3], b[3])]);
    }
    const pad = (lo, hi) => { const r = hi - lo || 2; return [lo - MARGIN * r, hi + MARGIN * r]; };
    const [x0, x1] = pad(e[0], e[1]), [y0, y1] = pad(e[2], e[3]);
    return { x0, x1, y0, y1 };
  }

  const toPixel = (a, x, y) => [(x - a.x0) / (a.x1 - a.x0) * PLANE, (a.y1 - y) / (a.y1 - a.y0) * PLANE];
  const toCode = (a, px, py) => [a.x0 + px / PLANE * (a.x1 - a.x0), a.y1 - py / PLANE * (a.y1 - a.y0)];

  // --- drawing ----------------------------------------------------------------------------

  function viridis(t) {
    const s = Math.max(0, Math.min(1, t)) * (VIRIDIS.length - 1), i = Math.min(Math.floor(s), VIRIDIS.length - 2);
    const f = s - i, a = VIRIDIS[i], b = VIRIDIS[i + 1];
    return `rgb(${a.map((v, k) => Math.round(v + f * (b[k] - v))).join(",")})`;
  }

  function drawPlane(panel) {
    const m = memberOf(panel), { codes, count } = shownCodes(m), a = axesOf(panel), d = m.latentDim;
    const ctx = panel.cache.getContext("2d"), ratio = panel.ratio;
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, PLANE, PLANE);
    // the axes through the origin
    const [ox, oy] = toPixel(a, 0, 0);
    ctx.strokeStyle = "#ddd"; ctx.lineWidth = 1; ctx.beginPath();
    ctx.moveTo(ox, 0); ctx.lineTo(ox, PLANE); ctx.moveTo(0, oy); ctx.lineTo(PLANE, oy); ctx.stroke();
    const labels = panel.dataset.labels;
    let colour;
    if (labels) {
      colour = (i) => TAB10[labels[i] % 10];
    } else {  // no labels: colour by how many codes share the point's cell of a 48x48 grid
      const cells = new Uint32Array(48 * 48), cell = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        const [px, py] = toPixel(a, coordinate(codes, d, i, state.dims[0]), coordinate(codes, d, i, state.dims[1]));
        const c = Math.min(47, Math.max(0, Math.floor(py / PLANE * 48))) * 48 +
                  Math.min(47, Math.max(0, Math.floor(px / PLANE * 48)));
        cell[i] = c; cells[c]++;
      }
      const top = Math.log1p(Math.max(...cells));
      colour = (i) => viridis(Math.log1p(cells[cell[i]]) / top);
    }
    ctx.globalAlpha = 0.6;
    for (let i = 0; i < count; i++) {
      const [px, py] = toPixel(a, coordinate(codes, d, i, state.dims[0]), coordinate(codes, d, i, state.dims[1]));
      ctx.fillStyle = colour(i);
      ctx.fillRect(px - 1.2, py - 1.2, 2.4, 2.4);
    }
    ctx.globalAlpha = 1;
    // tick labels: the range shown
    ctx.fillStyle = "#666"; ctx.font = "10px sans-serif";
    const range = (dim, lo, hi) => `z[${dim}]: ${lo.toPrecision(3)} to ${hi.toPrecision(3)}`;
    ctx.fillText(range(state.dims[0], a.x0, a.x1) + " (horizontal)", 3, PLANE - 4);
    if (state.dims[1] >= 0) ctx.fillText(range(state.dims[1], a.y0, a.y1) + " (vertical)", 3, 11);
    panel.axes = a; panel.shown = { codes, count };
    panel.stale = false;
  }

  function drawImage(canvas, values, shape) {
    const [H, W, C] = shape, ctx = canvas.getContext("2d"), image = ctx.createImageData(W, H);
    for (let p = 0; p < H * W; p++) {
      const r = values[p * C], g = C >= 3 ? values[p * C + 1] : r, b = C >= 3 ? values[p * C + 2] : r;
      image.data[4 * p] = Math.round(255 * r); image.data[4 * p + 1] = Math.round(255 * g);
      image.data[4 * p + 2] = Math.round(255 * b); image.data[4 * p + 3] = 255;
    }
    ctx.putImageData(image, 0, 0);
  }

  function pixelCanvas(shape) {
    const canvas = document.createElement("canvas");
    canvas.width = shape[1]; canvas.height = shape[0]; canvas.className = "pixels";
    canvas.style.height = `${Math.round(120 * shape[0] / shape[1])}px`;
    return canvas;
  }

  function figure(canvas, caption) {
    const f = document.createElement("figure"), c = document.createElement("figcaption");
    c.textContent = caption; f.append(canvas, c);
    return f;
  }

  function codeOf(panel) {  // the shared cursor as this panel's member's z
    const z = new Float32Array(memberOf(panel).latentDim);
    for (let i = 0; i < z.length; i++) z[i] = state.z[i];
    return z;
  }

  function frame() {
    if (state.dirty) {
      state.dirty = false;
      const start = performance.now();
      for (const panel of panels) drawImage(panel.decoded, memberOf(panel).decode(codeOf(panel)), panel.dataset.shape);
      if (state.frames++ > 0) state.decodeMs.push(performance.now() - start);  // the first one compiles
      if (state.decodeMs.length > 30) state.decodeMs.shift();
      if (state.decodeMs.length) {
        const sorted = [...state.decodeMs].sort((a, b) => a - b), median = sorted[Math.floor(sorted.length / 2)];
        document.getElementById("timing").textContent = `decoding and drawing: ${median.toFixed(2)} ms per frame ` +
          `for ${panels.length} run${panels.length > 1 ? "s" : ""} (median of the last ${sorted.length})`;
      }
      const shown = Array.from(state.z.slice(0, Math.min(maxDim, 8)), (v) => v.toFixed(2)).join(", ");
      document.getElementById("cursor-readout").textContent = `z = (${shown}${maxDim > 8 ? ", ..." : ""})`;
      for (const panel of panels) {
        if (panel.stale) drawPlane(panel);
        const ctx = panel.plane.getContext("2d");
        ctx.setTransform(1, 0, 0, 1, 0, 0);
        ctx.drawImage(panel.cache, 0, 0);
        ctx.setTransform(panel.ratio, 0, 0, panel.ratio, 0, 0);
        const a = panel.axes, d = memberOf(panel).latentDim;
        const cx = state.dims[0], cy = state.dims[1];
        const [px, py] = toPixel(a, state.z[cx], cy < 0 ? 0 : state.z[cy]);
        ctx.strokeStyle = "#000"; ctx.lineWidth = 1; ctx.beginPath();
        ctx.moveTo(px, 0); ctx.lineTo(px, PLANE);
        if (cy >= 0) { ctx.moveTo(0, py); ctx.lineTo(PLANE, py); }
        ctx.stroke();
        if (state.selected >= 0 && state.selectedDataset === panel.dataset && state.selected < panel.shown.count) {
          const s = state.selected, codes = panel.shown.codes;
          const [sx, sy] = toPixel(a, coordinate(codes, d, s, cx), coordinate(codes, d, s, cy));
          ctx.strokeStyle = "#d00"; ctx.lineWidth = 2; ctx.beginPath(); ctx.arc(sx, sy, 6, 0, 2 * Math.PI); ctx.stroke();
        }
      }
    }
    requestAnimationFrame(frame);
  }

  function invalidate(planes) {
    if (planes) panels.forEach((p) => { p.stale = true; });
    state.dirty = true;
  }

  // --- the page ---------------------------------------------------------------------------

  function slider(label, count, value, onInput, describe) {
    const row = document.createElement("div"), input = document.createElement("input"), text = document.createElement("span");
    row.className = "slider";
    input.type = "range"; input.min = 0; input.max = count - 1; input.step = 1; input.value = value;
    const show = () => { text.textContent = describe(Number(input.value)); };
    input.addEventListener("input", () => { onInput(Number(input.value)); show(); });
    row.append(document.createTextNode(label), input, text);
    show();
    return { row, input, show };
  }

  function build() {
    const main = document.getElementById("panels"), ratio = window.devicePixelRatio || 1;
    for (const panel of panels) {
      const box = document.createElement("div"), heading = document.createElement("h3"), path = document.createElement("div");
      box.className = "panel";
      heading.textContent = panel.kind === "sweep" ? panel.title : memberOf(panel).title;
      path.className = "path"; path.textContent = panel.path;
      panel.legendBox = document.createElement("div");
      panel.legendBox.className = "legend";
      box.append(heading, path, panel.legendBox);
      panel.ratio = ratio;
      panel.plane = document.createElement("canvas");
      panel.plane.className = "plane";
      panel.plane.width = panel.plane.height = Math.round(PLANE * ratio);
      panel.plane.style.width = panel.plane.style.height = `${PLANE}px`;
      panel.cache = document.createElement("canvas");
      panel.cache.width = panel.cache.height = panel.plane.width;
      box.append(panel.plane);
      if (panel.kind === "sweep") {
        panel.betaSlider = slider("beta ", panel.members.length, panel.current, (i) => {
          panel.current = i; heading.textContent = `${panel.title}: ${memberOf(panel).title}`;
          updateEpochSlider(panel); invalidate(true);
          if (state.selected >= 0) select(state.selected, state.selectedDataset);
        }, (i) => `${panel.members[i].beta}`);
        heading.textContent = `${panel.title}: ${memberOf(panel).title}`;
        box.append(panel.betaSlider.row);
      }
      panel.epochBox = document.createElement("div");
      box.append(panel.epochBox);
      updateEpochSlider(panel);
      panel.decoded = pixelCanvas(panel.dataset.shape);
      panel.reconstruction = pixelCanvas(panel.dataset.shape);
      const images = document.createElement("div");
      images.className = "images";
      panel.reconstructionFigure = figure(panel.reconstruction, "reconstruction of the clicked image");
      panel.reconstructionFigure.hidden = true;
      images.append(figure(panel.decoded, "decoded at the cursor"), panel.reconstructionFigure);
      panel.reconstructionFigure.title = "this run's decoder applied to the clicked image's z_mean";
      box.append(images);
      main.append(box);
      panel.plane.addEventListener("mousemove", (event) => {
        const r = panel.plane.getBoundingClientRect();
        const [x, y] = toCode(panel.axes, event.clientX - r.left, event.clientY - r.top);
        state.z[state.dims[0]] = x;
        if (state.dims[1] >= 0) state.z[state.dims[1]] = y;
        state.dirty = true;
      });
      panel.plane.addEventListener("click", (event) => {
        const r = panel.plane.getBoundingClientRect(), mx = event.clientX - r.left, my = event.clientY - r.top;
        const { codes, count } = panel.shown, d = memberOf(panel).latentDim;
        let best = -1, bestDistance = PICK * PICK;
        for (let i = 0; i < count; i++) {
          const [px, py] = toPixel(panel.axes, coordinate(codes, d, i, state.dims[0]), coordinate(codes, d, i, state.dims[1]));
          const distance = (px - mx) ** 2 + (py - my) ** 2;
          if (distance < bestDistance) { best = i; bestDistance = distance; }
        }
        if (best >= 0) select(best, panel.dataset);
      });
    }
    legend();
    dimsControls();
    document.getElementById("shared-axes").addEventListener("change", (event) => setSharedAxes(event.target.checked));
    summary();
  }

  function updateEpochSlider(panel) {
    const m = memberOf(panel);
    panel.epochBox.replaceChildren();
    if (!m.epochs) return;
    panel.epochSlider = slider("epoch ", m.epochs.length, m.epoch, (i) => { m.epoch = i; invalidate(true); },
      (i) => `${m.epochs[i]} of ${m.epochs[m.epochs.length - 1]}` +
             (i < m.epochs.length - 1 ? ` (${m.frameCount} codes)` : " (final)"));
    panel.epochSlider.row.title = "The codes after each epoch (snapshots.npz); the image at the cursor is always " +
      "the final decoder's: snapshots store codes, not weights.";
    panel.epochBox.append(panel.epochSlider.row);
  }

  function legendOf(dataset, box) {
    if (!dataset.labels) {
      box.textContent = "Colour: the density of the codes around each point (dark: few, yellow: many); " +
        "the data has no labels.";
      return;
    }
    const count = dataset.classNames ? dataset.classNames.length : Math.max(...dataset.labels) + 1;
    for (let k = 0; k < count; k++) {
      const item = document.createElement("span"), swatch = document.createElement("span");
      swatch.className = "swatch"; swatch.style.background = TAB10[k % 10];
      item.append(swatch, document.createTextNode(dataset.classNames ? dataset.classNames[k] : `class ${k}`));
      box.append(item);
    }
  }

  // One legend on top when the panels share their data; else one under each panel's title.
  function legend() {
    const box = document.getElementById("legend"), shown = [...new Set(panels.map((p) => p.dataset))];
    if (shown.length === 1) {
      legendOf(shown[0], box);
      return;
    }
    box.textContent = "The runs were trained on different data: each panel's colours are under its title.";
    for (const panel of panels) legendOf(panel.dataset, panel.legendBox);
  }

  function dimsControls() {
    const note = document.getElementById("dims-note");
    if (maxDim <= 2 && minDim === 2) return;
    if (minDim === 1) {
      note.hidden = false;
      note.textContent = "Latent size 1: the horizontal axis is z[0]; the vertical position only spreads the points" +
        (maxDim > 1 ? `; the cursor holds every other dimension of z (up to ${maxDim}) at 0.` : ".");
      return;
    }
    document.getElementById("dims-control").hidden = false;
    for (const [which, select] of [[0, document.getElementById("dim-x")], [1, document.getElementById("dim-y")]]) {
      for (let k = 0; k < minDim; k++) select.add(new Option(`z[${k}]`, k));
      select.value = state.dims[which];
      select.addEventListener("change", () => {
        const other = state.dims[1 - which], chosen = Number(select.value);
        if (chosen === other) { select.value = state.dims[which]; return; }
        state.dims[which] = chosen; showDimsNote(); invalidate(true);
      });
    }
    showDimsNote();
  }

  function showDimsNote() {
    const note = document.getElementById("dims-note");
    note.hidden = false;
    note.textContent = `Latent size ${minDim === maxDim ? maxDim : `${minDim} to ${maxDim}`}: the plane shows ` +
      `z[${state.dims[0]}] (horizontal) and z[${state.dims[1]}] (vertical) of the codes; the cursor moves these two ` +
      "and holds every other dimension of z at 0.";
    for (let k = 0; k < maxDim; k++) if (!state.dims.includes(k)) state.z[k] = 0;
  }

  function summary() {
    const counts = panels.map((p) => memberOf(p).count);
    document.getElementById("summary").textContent =
      `${panels.length} panel${panels.length > 1 ? "s" : ""}; the codes (z_mean) of the first ` +
      `${Math.max(...counts).toLocaleString()} test images per run. Move the cursor over a plane: each run decodes ` +
      "the same z below its plane. Click a point to see that test image and each run's reconstruction.";
  }

  function select(index, dataset) {
    state.selected = index; state.selectedDataset = dataset;
    const section = document.getElementById("selection"), box = document.getElementById("selection-images");
    section.hidden = false; box.replaceChildren();
    const [H, W, C] = dataset.shape, P = H * W * C, original = pixelCanvas(dataset.shape);
    const values = new Float32Array(P);
    for (let p = 0; p < P; p++) values[p] = dataset.images[index * P + p] / 255;
    drawImage(original, values, dataset.shape);
    const name = dataset.labels && dataset.classNames ? ` (${dataset.classNames[dataset.labels[index]]})` : "";
    document.getElementById("selection-label").textContent = `#${index}${name}`;
    box.append(figure(original, "test image"));
    for (const panel of panels) {
      const m = memberOf(panel), show = panel.dataset === dataset && index < m.count;
      panel.reconstructionFigure.hidden = !show;
      if (!show) continue;
      const z = m.codes.subarray(index * m.latentDim, (index + 1) * m.latentDim);
      drawImage(panel.reconstruction, m.decode(z), dataset.shape);
    }
    state.dirty = true;
  }

  function setSharedAxes(on) {
    state.shared = Boolean(on);
    document.getElementById("shared-axes").checked = state.shared;
    invalidate(true);
  }

  // --- the API ----------------------------------------------------------------------------

  function check(run) {
    if (!Number.isInteger(run) || run < 0 || run >= panels.length)
      throw new Error(`run must be an index 0..${panels.length - 1}; got ${run}`);
    return panels[run];
  }

  window.vaeExplorer = {
    ready: false,
    runs: panels.map((p) => ({
      title: p.title, path: p.path, kind: p.kind, latentDim: memberOf(p).latentDim, imageShape: p.dataset.shape,
      members: p.members.map((m) => ({ title: m.title, beta: m.beta, epochs: m.epochs })),
    })),
    decode(run, z, member) {
      const panel = check(run), m = panel.members[member === undefined || member === null ? panel.current : member];
      if (!m) throw new Error(`member must be an index 0..${panel.members.length - 1}; got ${member}`);
      if (!z || z.length !== m.latentDim) throw new Error(`z must have ${m.latentDim} values; got ${z && z.length}`);
      return Array.from(m.decode(Float32Array.from(z)));
    },
    timeDecode(run, n) {
      const panel = check(run), m = memberOf(panel), z = new Float32Array(m.latentDim);
      const start = performance.now();
      for (let i = 0; i < n; i++) { z[0] = (i % 100) / 25 - 2; m.decode(z); }
      return (performance.now() - start) / n;
    },
    get engine() { return engine.wasm ? "webassembly-simd" : "javascript"; },
    useWebAssembly(on) { engine.wasm = Boolean(on) && CONV_MODULE !== null; state.dirty = true; return engine.wasm; },
    setCursor(z) { for (let i = 0; i < maxDim; i++) state.z[i] = z[i] || 0; state.dirty = true; },
    cursor() { return Array.from(state.z); },
    setSharedAxes,
    setEpoch(run, index) {
      const panel = check(run), m = memberOf(panel);
      if (!m.epochs) throw new Error(`run ${run} has no snapshots (train it with --snapshots)`);
      m.epoch = index; panel.epochSlider.input.value = index; panel.epochSlider.show(); invalidate(true);
    },
    setMember(run, index) {
      const panel = check(run);
      panel.current = index;
      if (panel.betaSlider) { panel.betaSlider.input.value = index; panel.betaSlider.input.dispatchEvent(new Event("input")); }
      invalidate(true);
    },
    select(index) { select(index, panels[0].dataset); },
  };

  build();
  invalidate(true);
  requestAnimationFrame(frame);
  window.vaeExplorer.ready = true;
})();
