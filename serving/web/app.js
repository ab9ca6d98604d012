/* Digit recognizer page: a drawing pad, photo upload, the answer, feedback, stats and history.
   Plain browser JavaScript, no dependencies. Every URL is relative so the page also works when
   the service sits behind a path prefix. */
"use strict";

(function main() {
  const HISTORY_PAGE = 10;
  const INK_WIDTH = 22; // in canvas pixels (320 wide): close to MNIST's stroke-to-digit ratio

  const $ = (id) => document.getElementById(id);

  const el = {
    pad: $("pad"),
    dropzone: $("dropzone"),
    undo: $("undo"),
    clear: $("clear"),
    recognize: $("recognize"),
    choose: $("choose"),
    file: $("file"),
    uploadFigure: $("upload-figure"),
    uploadPreview: $("upload-preview"),
    uploadCaption: $("upload-caption"),
    error: $("error"),
    answer: $("answer"),
    placeholder: $("placeholder"),
    verdict: $("verdict"),
    verdictLabel: $("verdict-label"),
    digit: $("digit"),
    confidence: $("confidence"),
    unsure: $("unsure"),
    details: $("details"),
    preview: $("preview"),
    chart: $("chart"),
    feedback: $("feedback"),
    confirm: $("confirm"),
    labelButtons: $("label-buttons"),
    feedbackStatus: $("feedback-status"),
    statTotal: $("stat-total"),
    statFeedback: $("stat-feedback"),
    accuracy: $("accuracy"),
    historyRows: $("history-rows"),
    historyEmpty: $("history-empty"),
    refresh: $("refresh"),
    more: $("more"),
  };

  const state = { current: null, cursor: null, busy: false, uploadUrl: null };

  /* ---------- HTTP ---------- */

  /** Calls the API and returns the parsed JSON body; throws an Error with the server's message. */
  async function api(method, url, body) {
    const init = { method, headers: { Accept: "application/json" } };
    if (body instanceof FormData) {
      init.body = body;
    } else if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers["Content-Type"] = "application/json";
    }
    let response;
    try {
      response = await fetch(url, init);
    } catch (err) {
      throw new Error("The service cannot be reached. Is it running?");
    }
    let data = null;
    try {
      data = await response.json();
    } catch (err) {
      data = null;
    }
    if (!response.ok) {
      throw new Error(errorMessage(response.status, data));
    }
    return data;
  }

  /** A sentence for the person at the page, from the status and the `{"error": ...}` body. */
  function errorMessage(status, data) {
    const body = Array.isArray(data) ? data[0] : data;
    const detail = body && typeof body.error === "string" ? body.error : "";
    const hints = {
      400: "That image could not be read.",
      413: "That image is too large.",
      415: "That file type is not supported: use PNG, JPEG, WebP, GIF or BMP.",
      422: "No digit found: draw or photograph one digit, big and dark.",
      429: "The service is busy: try again in a moment.",
      503: "The service is not ready yet: try again in a moment.",
      504: "The service took too long to answer: try again.",
    };
    const hint = hints[status] || `The service answered with an error (${status}).`;
    return detail && !hint.includes(detail) ? `${hint} (${detail})` : hint;
  }

  function showError(message) {
    el.error.textContent = message;
    el.error.hidden = !message;
  }

  /* ---------- drawing pad ---------- */

  const ctx = el.pad.getContext("2d");
  const strokes = [];
  let activeStroke = null;

  function padPoint(event) {
    const rect = el.pad.getBoundingClientRect();
    return {
      x: ((event.clientX - rect.left) / rect.width) * el.pad.width,
      y: ((event.clientY - rect.top) / rect.height) * el.pad.height,
    };
  }

  function paintBackground() {
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, el.pad.width, el.pad.height);
  }

  function paintStroke(points) {
    ctx.strokeStyle = "#000000";
    ctx.fillStyle = "#000000";
    ctx.lineWidth = INK_WIDTH;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    if (points.length === 1) {
      ctx.beginPath();
      ctx.arc(points[0].x, points[0].y, INK_WIDTH / 2, 0, Math.PI * 2);
      ctx.fill();
      return;
    }
    ctx.beginPath();
    ctx.moveTo(points[0].x, points[0].y);
    for (const p of points.slice(1)) ctx.lineTo(p.x, p.y);
    ctx.stroke();
  }

  function repaint() {
    paintBackground();
    strokes.forEach(paintStroke);
    syncTools();
  }

  function syncTools() {
    const empty = strokes.length === 0;
    el.undo.disabled = empty;
    el.clear.disabled = empty;
    el.recognize.disabled = empty || state.busy;
    el.choose.disabled = state.busy;
  }

  function onPointerDown(event) {
    if (event.button !== undefined && event.button > 0) return;
    event.preventDefault();
    el.pad.setPointerCapture(event.pointerId);
    activeStroke = [padPoint(event)];
    strokes.push(activeStroke);
    hideUploadPreview();
    repaint();
  }

  function onPointerMove(event) {
    if (!activeStroke) return;
    event.preventDefault();
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
    for (const e of events.length ? events : [event]) activeStroke.push(padPoint(e));
    repaint();
  }

  function onPointerUp() {
    activeStroke = null;
  }

  function undo() {
    strokes.pop();
    repaint();
  }

  function clearPad() {
    strokes.length = 0;
    repaint();
  }

  function padBlob() {
    return new Promise((resolve) => el.pad.toBlob(resolve, "image/png"));
  }

  /* ---------- predicting ---------- */

  function setBusy(busy) {
    state.busy = busy;
    el.answer.setAttribute("aria-busy", String(busy));
    syncTools();
  }

  async function predict(blob, filename) {
    const form = new FormData();
    form.append("image", blob, filename);
    setBusy(true);
    showError("");
    try {
      const result = await api("POST", "predict?preview=true", form);
      showResult(result);
      await Promise.all([loadHistory(true), loadStats()]);
    } catch (err) {
      clearResult();
      showError(err.message);
    } finally {
      setBusy(false);
    }
  }

  /** Back to the empty answer, so an error is never read next to an older answer. */
  function clearResult() {
    state.current = null;
    el.placeholder.hidden = false;
    el.verdict.hidden = true;
    el.details.hidden = true;
    el.feedback.hidden = true;
    el.feedback.disabled = true;
  }

  async function recognizeDrawing() {
    if (strokes.length === 0) return;
    await predict(await padBlob(), "canvas.png");
  }

  /** A probability as a percentage: whole percent from 10%, one decimal below, 0% for dust. */
  function percent(value) {
    const pct = value * 100;
    if (pct >= 9.95) return `${pct.toFixed(0)}%`;
    if (pct >= 0.05) return `${pct.toFixed(1)}%`;
    return "0%";
  }

  function showResult(result) {
    state.current = result;
    el.placeholder.hidden = true;
    el.verdict.hidden = false;
    el.verdict.classList.toggle("is-unsure", !result.sure);
    el.verdictLabel.textContent = result.sure ? "It's a" : "Best guess:";
    el.digit.textContent = String(result.digit);
    el.confidence.textContent = `${percent(result.confidence)} confident`;
    el.unsure.hidden = result.sure;
    el.details.hidden = false;
    if (result.preview) el.preview.src = `data:image/png;base64,${result.preview}`;
    else el.preview.removeAttribute("src");
    el.preview.parentElement.hidden = !result.preview;
    renderChart(result.probabilities, result.digit);
    resetFeedback(result.digit);
  }

  function renderChart(probabilities, digit) {
    el.chart.replaceChildren(
      ...probabilities.map((p, d) => {
        const item = document.createElement("li");
        if (d === digit) item.className = "top";
        const name = document.createElement("span");
        name.textContent = String(d);
        const bar = document.createElement("span");
        bar.className = "bar";
        bar.setAttribute("aria-hidden", "true");
        const fill = document.createElement("span");
        fill.className = "fill";
        fill.style.width = `${Math.max(0, Math.min(1, p)) * 100}%`;
        bar.append(fill);
        const value = document.createElement("span");
        value.className = "value";
        value.textContent = percent(p);
        item.append(name, bar, value);
        return item;
      }),
    );
  }

  /* ---------- uploads ---------- */

  function hideUploadPreview() {
    if (state.uploadUrl) URL.revokeObjectURL(state.uploadUrl);
    state.uploadUrl = null;
    el.uploadFigure.hidden = true;
    el.uploadPreview.removeAttribute("src");
  }

  function predictFile(file) {
    if (!file || state.busy) return;
    hideUploadPreview();
    if (file.type.startsWith("image/")) {
      state.uploadUrl = URL.createObjectURL(file);
      el.uploadPreview.src = state.uploadUrl;
      el.uploadPreview.alt = `Your photo: ${file.name}`;
      el.uploadCaption.textContent = `Sent: ${file.name}`;
      el.uploadFigure.hidden = false;
    }
    predict(file, file.name || "upload");
  }

  function onDrag(event) {
    if (!event.dataTransfer || !Array.from(event.dataTransfer.types).includes("Files")) return;
    event.preventDefault();
    el.dropzone.classList.toggle("dragover", event.type !== "dragleave");
  }

  function onDrop(event) {
    event.preventDefault();
    el.dropzone.classList.remove("dragover");
    const file = event.dataTransfer && event.dataTransfer.files[0];
    predictFile(file);
  }

  /* ---------- feedback ---------- */

  function buildLabelButtons() {
    for (let d = 0; d <= 9; d += 1) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = String(d);
      button.dataset.label = String(d);
      button.setAttribute("aria-pressed", "false");
      button.addEventListener("click", () => sendFeedback(d));
      el.labelButtons.append(button);
    }
  }

  function resetFeedback(digit) {
    el.feedback.hidden = false;
    el.feedback.disabled = false;
    el.confirm.textContent = `Yes, it's a ${digit}`;
    el.feedbackStatus.textContent = "";
    markLabel(null);
  }

  function markLabel(label) {
    for (const button of el.labelButtons.querySelectorAll("button")) {
      button.setAttribute("aria-pressed", String(button.dataset.label === String(label)));
    }
  }

  async function sendFeedback(label) {
    const current = state.current;
    if (!current) return;
    showError("");
    try {
      const answer = await api("POST", `predictions/${encodeURIComponent(current.id)}/feedback`, {
        label,
        token: current.feedback_token,
      });
      markLabel(answer.correct ? null : answer.label);
      el.feedbackStatus.textContent = answer.correct
        ? "Thanks: recorded as correct."
        : `Thanks: recorded that it is a ${answer.label}.`;
      await Promise.all([loadHistory(true), loadStats()]);
    } catch (err) {
      showError(err.message);
    }
  }

  /* ---------- stats ---------- */

  async function loadStats() {
    try {
      const stats = await api("GET", "stats");
      el.statTotal.textContent = String(stats.total);
      el.statFeedback.textContent = String(stats.feedback);
      const accuracy = stats.feedback_accuracy;
      el.accuracy.textContent =
        accuracy === null || accuracy === undefined ? "–" : percent(accuracy);
      el.accuracy.title = `${stats.correct} of ${stats.feedback} answers with feedback were right`;
    } catch (err) {
      el.accuracy.textContent = "–";
    }
  }

  /* ---------- history ---------- */

  function formatTime(iso) {
    const when = new Date(iso);
    if (Number.isNaN(when.getTime())) return iso;
    const sameDay = when.toDateString() === new Date().toDateString();
    const time = when.toLocaleTimeString([], {
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
      hourCycle: "h23",
    });
    return sameDay ? time : `${when.toLocaleDateString()} ${time}`;
  }

  function cell(content, className) {
    const td = document.createElement("td");
    if (className) td.className = className;
    if (content instanceof Node) td.append(content);
    else td.textContent = content;
    return td;
  }

  function labelCell(item) {
    if (item.label === null || item.label === undefined) return cell("–");
    if (item.label === item.digit) return cell("✓ right", "right");
    return cell(`✗ it's a ${item.label}`, "wrong");
  }

  function historyRow(item) {
    const row = document.createElement("tr");
    row.dataset.id = item.id;
    if (state.current && state.current.id === item.id) row.classList.add("is-current");
    const img = document.createElement("img");
    img.alt = `Input read as ${item.digit}`;
    img.width = 36;
    img.height = 36;
    if (item.preview) img.src = `data:image/png;base64,${item.preview}`;
    const time = document.createElement("time");
    time.dateTime = item.created_at;
    time.textContent = formatTime(item.created_at);
    const answer = document.createElement("span");
    const digit = document.createElement("span");
    digit.className = "history-digit";
    digit.textContent = String(item.digit);
    const confidence = document.createElement("span");
    confidence.className = "history-confidence";
    confidence.textContent = percent(item.confidence);
    answer.append(digit, " ", confidence);
    row.append(cell(img), cell(answer), cell(time), labelCell(item));
    return row;
  }

  async function loadHistory(reset) {
    const params = new URLSearchParams({ limit: String(HISTORY_PAGE) });
    if (!reset && state.cursor) params.set("cursor", state.cursor);
    try {
      const page = await api("GET", `predictions?${params}`);
      const rows = page.items.map(historyRow);
      if (reset) el.historyRows.replaceChildren(...rows);
      else el.historyRows.append(...rows);
      state.cursor = page.cursor;
      el.more.hidden = !page.cursor;
      el.historyEmpty.hidden = el.historyRows.children.length > 0;
    } catch (err) {
      el.historyEmpty.hidden = false;
      el.historyEmpty.textContent = `History unavailable: ${err.message}`;
    }
  }

  /* ---------- wiring ---------- */

  function wire() {
    el.pad.addEventListener("pointerdown", onPointerDown);
    el.pad.addEventListener("pointermove", onPointerMove);
    el.pad.addEventListener("pointerup", onPointerUp);
    el.pad.addEventListener("pointercancel", onPointerUp);
    el.undo.addEventListener("click", undo);
    el.clear.addEventListener("click", clearPad);
    el.recognize.addEventListener("click", recognizeDrawing);
    el.choose.addEventListener("click", () => el.file.click());
    el.file.addEventListener("change", () => {
      predictFile(el.file.files[0]);
      el.file.value = "";
    });
    for (const type of ["dragenter", "dragover", "dragleave"]) {
      el.dropzone.addEventListener(type, onDrag);
    }
    el.dropzone.addEventListener("drop", onDrop);
    el.confirm.addEventListener("click", () => state.current && sendFeedback(state.current.digit));
    el.refresh.addEventListener("click", () => Promise.all([loadHistory(true), loadStats()]));
    el.more.addEventListener("click", () => loadHistory(false));
    document.addEventListener("keydown", (event) => {
      const inField = event.target instanceof HTMLInputElement;
      if ((event.ctrlKey || event.metaKey) && event.key === "z" && !inField && strokes.length) {
        event.preventDefault();
        undo();
      }
    });
  }

  buildLabelButtons();
  wire();
  repaint();
  loadStats();
  loadHistory(true);
})();
