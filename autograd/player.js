// valuegrad's player: the frames of a backward pass, one at a time, fitted to the space it is given.
//
// One ES module for every front-end. In a notebook (JupyterLab, Notebook 7, VS Code, Colab) anywidget
// calls render({model, el}); the standalone page calls playPage(data), which gives render a model of
// its own. The model holds `frames` (SVG markup, one per step), `texts` (the arithmetic of each),
// `legend`, `title` and `step`, the frame on show (shared with Python in a notebook).
//
// Fit, then follow: the player first shows the whole graph; at each backward step it zooms in until
// the current gate's text is readable (if it is not already) and pans to keep that gate in view.
// The learner can zoom (buttons, + and -, Ctrl+wheel), pan (drag) and get back to "Fit all" (0).

const READABLE_PX = 10; // the current gate's text is never drawn smaller than this, in CSS px
const MARGIN = 16; // px kept between the followed gate and the edge of the view
const ZOOM = 1.25; // one press of a zoom button or key
const MAX_SCALE = 4;
const KEYS_HELP = "keys: ←/→ step, Home/End first/last, +/− zoom, 0 fit all; drag to pan";

function element(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function button(text, title, { arrow = "", after = false, label = "" } = {}) {
  const b = element("button", "", text);
  b.type = "button";
  b.title = title;
  if (label) b.setAttribute("aria-label", label);
  if (arrow) {
    const a = element("span", "arrow", arrow);
    a.setAttribute("aria-hidden", "true"); // decoration: the accessible name is the text alone
    if (after) b.append(" ", a);
    else b.prepend(a, " ");
  }
  return b;
}

function clamp(v, lo, hi) {
  return Math.min(Math.max(v, lo), hi);
}

function render({ model, el }) {
  const svgs = model.get("frames");
  const texts = model.get("texts");
  const last = svgs.length - 1;
  const page = Boolean(model.get("page"));

  const root = element("div", "valuegrad-player");
  root.setAttribute("data-valuegrad-player", "");
  root.setAttribute("role", "group");
  root.setAttribute("aria-label", model.get("title"));
  root.tabIndex = 0;
  if (page) root.setAttribute("data-page", "");

  const prev = button("Previous", "previous step (←; Home: the first)", { arrow: "◀" });
  const next = button("Next", "next step (→; End: the last)", { arrow: "▶", after: true });
  const counter = element("span", "counter", "step ");
  const index = element("span", "index");
  index.setAttribute("data-valuegrad-step", "");
  counter.append(index);
  const zoomOut = button("−", "zoom out (−, or Ctrl+wheel)", { label: "Zoom out" });
  const zoomIn = button("+", "zoom in (+, or Ctrl+wheel)", { label: "Zoom in" });
  const fit = button("Fit all", "the whole graph (0)");
  const bar = element("div", "bar");
  bar.append(prev, counter, next, element("span", "gap"), zoomOut, zoomIn, fit);

  const view = element("div", "view");
  const stage = element("div", "stage");
  const frames = svgs.map((svg) => {
    const frame = element("div", "frame");
    frame.innerHTML = svg; // SVG drawn by Graphviz and re-serialized by valuegrad: labels are escaped
    frame.hidden = true;
    stage.append(frame);
    return frame;
  });
  view.append(stage);

  const text = element("div", "text");
  text.setAttribute("aria-live", "polite");
  const lineCounts = texts.map((t) => t.split("\n").length);
  text.style.minHeight = 1.5 * Math.max(...lineCounts) + "em"; // the page below does not jump
  const legend = element("div", "legend");
  for (const [colour, words] of model.get("legend")) {
    const item = element("span", "item");
    if (colour) {
      const swatch = element("span", "swatch");
      swatch.style.background = colour;
      item.append(swatch, " ");
    }
    item.append(words);
    legend.append(item);
  }
  legend.append(element("span", "item keys", KEYS_HELP));
  root.append(bar, view, text, legend);
  el.append(root);

  // The drawing's size at scale 1, in CSS px, and the scale at which its text is readable.
  const svg0 = frames[0].querySelector("svg");
  const W = svg0.width.baseVal.value || 1;
  const H = svg0.height.baseVal.value || 1;
  const unit = W / (svg0.viewBox.baseVal && svg0.viewBox.baseVal.width ? svg0.viewBox.baseVal.width : W);
  const font = Math.min(...[...svg0.querySelectorAll("text")].map((t) => parseFloat(t.getAttribute("font-size")) || 14));
  const readable = READABLE_PX / (unit * font); // 0 for a drawing without text: no need to zoom

  let k = -1; // the frame on show
  let s = 1, x = 0, y = 0; // the stage's transform: screen = content * s + (x, y)
  let fitted = true; // showing the whole graph (and keeping to it when the view is resized)
  let vw = 0, vh = 0;

  const fitScale = () => Math.min(vw / W, vh / H, 1);

  function apply() {
    const cw = W * s, ch = H * s;
    x = cw <= vw ? clamp(x, 0, vw - cw) : clamp(x, vw - cw, 0);
    y = ch <= vh ? clamp(y, 0, vh - ch) : clamp(y, vh - ch, 0);
    stage.style.transform = `translate(${x}px, ${y}px) scale(${s})`;
  }

  function fitAll() {
    s = fitScale();
    x = (vw - W * s) / 2;
    y = (vh - H * s) / 2;
    fitted = true;
    apply();
  }

  function zoom(factor, cx = vw / 2, cy = vh / 2) {
    const t = clamp(s * factor, fitScale(), MAX_SCALE);
    x = cx - ((cx - x) * t) / s;
    y = cy - ((cy - y) * t) / s;
    s = t;
    fitted = false;
    apply();
  }

  // The box around some elements of the frame on show, in the drawing's own px (scale 1).
  function box(selector) {
    const svg = frames[k].querySelector("svg");
    const outer = svg.getBoundingClientRect();
    const ratio = W / (outer.width || 1);
    let left = Infinity, top = Infinity, right = -Infinity, bottom = -Infinity;
    for (const e of svg.querySelectorAll(selector)) {
      const r = e.getBoundingClientRect();
      left = Math.min(left, (r.left - outer.left) * ratio);
      top = Math.min(top, (r.top - outer.top) * ratio);
      right = Math.max(right, (r.right - outer.left) * ratio);
      bottom = Math.max(bottom, (r.bottom - outer.top) * ratio);
    }
    return left < right ? { left, top, right, bottom } : null;
  }

  // Keep the current gate in view with readable text; with its inputs too, when they fit.
  function follow() {
    const gate = k > 0 ? box(".current") : null;
    if (!gate) {
      if (fitted) fitAll();
      return;
    }
    if (s < readable) {
      s = Math.min(readable, MAX_SCALE);
      fitted = false;
    }
    const wide = box(".current, .input, .used");
    const fits = (b) => (b.right - b.left) * s <= vw - 2 * MARGIN && (b.bottom - b.top) * s <= vh - 2 * MARGIN;
    const b = wide && fits(wide) ? wide : gate;
    if (b.left * s + x < MARGIN || b.right * s + x > vw - MARGIN) x = vw / 2 - ((b.left + b.right) / 2) * s;
    if (b.top * s + y < MARGIN || b.bottom * s + y > vh - MARGIN) y = vh / 2 - ((b.top + b.bottom) / 2) * s;
    apply();
  }

  function show() {
    const to = clamp(model.get("step") | 0, 0, last);
    if (to !== k) {
      if (k >= 0) frames[k].hidden = true;
      frames[to].hidden = false;
      k = to;
      text.replaceChildren(...texts[k].split("\n").map((line) => element("div", "line", line)));
      index.textContent = `${k} of ${last}`;
      // Never `disabled`: a disabled button drops the focus, and the keys with it.
      prev.setAttribute("aria-disabled", String(k === 0));
      next.setAttribute("aria-disabled", String(k === last));
    }
    if (vw) follow();
    if (page && location.hash !== "#step=" + k) {
      try {
        history.replaceState(null, "", "#step=" + k);
      } catch (e) {
        /* a file: URL may refuse */
      }
    }
  }

  function go(to) {
    to = clamp(to, 0, last);
    if (to !== model.get("step")) {
      model.set("step", to);
      model.save_changes();
    }
    show();
  }

  function keep() {
    // Whatever was clicked, the keys stay with the player (a notebook may take the focus on mousedown).
    if (!root.contains(document.activeElement)) root.focus({ preventScroll: true });
  }

  prev.addEventListener("click", () => { go(k - 1); keep(); });
  next.addEventListener("click", () => { go(k + 1); keep(); });
  zoomOut.addEventListener("click", () => { zoom(1 / ZOOM); keep(); });
  zoomIn.addEventListener("click", () => { zoom(ZOOM); keep(); });
  fit.addEventListener("click", () => { fitAll(); keep(); });

  function onKey(e) {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    const steps = { ArrowLeft: k - 1, ArrowRight: k + 1, Home: 0, End: last };
    if (e.key in steps) go(steps[e.key]);
    else if (e.key === "+" || e.key === "=") zoom(ZOOM);
    else if (e.key === "-" || e.key === "−") zoom(1 / ZOOM);
    else if (e.key === "0") fitAll();
    else return;
    e.preventDefault();
  }
  // A page of its own listens to the whole document. A player in a notebook takes the keys pressed
  // in it (while it has the focus) before the notebook can: at the window, in the capture phase,
  // since a front-end may read keys there too (Notebook 7 runs its shortcuts on the document's
  // capture phase), and no key goes on from there (in a notebook "d d" would delete a cell).
  function onKeyInside(e) {
    if (!root.contains(e.target)) return;
    onKey(e);
    e.stopPropagation();
  }
  if (page) document.addEventListener("keydown", onKey);
  else window.addEventListener("keydown", onKeyInside, true);

  // Pan by dragging; zoom with Ctrl+wheel (a trackpad's pinch), about the pointer.
  let drag = null;
  view.addEventListener("pointerdown", (e) => {
    if (e.button !== 0) return;
    drag = { id: e.pointerId, x: e.clientX - x, y: e.clientY - y };
    view.setPointerCapture(e.pointerId);
    view.classList.add("dragging");
    root.focus({ preventScroll: true });
    e.preventDefault();
  });
  view.addEventListener("pointermove", (e) => {
    if (!drag || e.pointerId !== drag.id) return;
    x = e.clientX - drag.x;
    y = e.clientY - drag.y;
    fitted = false;
    apply();
  });
  const endDrag = () => {
    drag = null;
    view.classList.remove("dragging");
  };
  view.addEventListener("pointerup", endDrag);
  view.addEventListener("pointercancel", endDrag);
  view.addEventListener("wheel", (e) => {
    const r = view.getBoundingClientRect();
    if (e.ctrlKey || e.metaKey) {
      zoom(Math.exp(-e.deltaY / 300), e.clientX - r.left, e.clientY - r.top);
    } else if (Math.abs(e.deltaX) > Math.abs(e.deltaY)) {
      x -= e.deltaX; // a sideways scroll pans; an up/down one scrolls the notebook or page
      fitted = false;
      apply();
    } else return;
    e.preventDefault();
  }, { passive: false });

  // The view is as wide as the space given; in a notebook, as tall as the drawing at the scale the
  // player will follow it at (within bounds); on a page, as tall as the window allows (CSS).
  function sizeView() {
    if (page) return;
    const width = view.clientWidth;
    const scale = Math.max(Math.min(1, width / W), Math.min(1, readable));
    const height = Math.round(clamp(H * scale + 2 * MARGIN, 140, Math.max(140, 0.7 * window.innerHeight)));
    if (Math.abs(view.clientHeight - height) > 1) view.style.height = height + "px";
  }
  const resized = new ResizeObserver(() => {
    if (!view.clientWidth) return; // not laid out yet
    sizeView();
    const first = !vw;
    vw = view.clientWidth;
    vh = view.clientHeight;
    if (first || fitted) fitAll();
    show();
  });
  resized.observe(view);

  const onChange = () => show();
  model.on("change:step", onChange);
  const fromHash = () => {
    const m = /^#step=(\d+)$/.exec(location.hash);
    return m ? Number(m[1]) : 0;
  };
  const onHash = () => go(fromHash());
  if (page) {
    window.addEventListener("hashchange", onHash);
    model.set("step", clamp(fromHash(), 0, last));
    root.focus({ preventScroll: true });
  }
  show();

  return () => {
    resized.disconnect();
    model.off("change:step", onChange);
    if (page) {
      document.removeEventListener("keydown", onKey);
      window.removeEventListener("hashchange", onHash);
    } else window.removeEventListener("keydown", onKeyInside, true);
  };
}

// The standalone page: the same player, its model kept in the page (the frames in <template>s).
function playPage(data) {
  data.frames = [...document.querySelectorAll("template.valuegrad-frame")].map((t) => t.innerHTML);
  const listeners = [];
  const model = {
    get: (key) => data[key],
    set(key, value) {
      if (data[key] === value) return;
      data[key] = value;
      for (const [event, f] of listeners) if (event === "change:" + key) f();
    },
    save_changes() {},
    on: (event, f) => listeners.push([event, f]),
    off: () => {},
  };
  const el = document.createElement("div");
  document.body.append(el);
  return render({ model, el });
}

export default { render };
