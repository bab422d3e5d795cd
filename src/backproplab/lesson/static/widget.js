// The lesson widget: the page of `backproplab serve` in a frame. The page asks its questions by
// postMessage; they go to Python as custom messages, and Python's answers come back the same way.
function render({ model, el }) {
  const frame = document.createElement("iframe");
  frame.style.width = "100%";
  frame.style.border = "0";
  frame.style.height = `${model.get("height")}px`;
  frame.setAttribute("title", "backproplab lesson");
  frame.srcdoc = model.get("_page");
  el.appendChild(frame);
  let shown = model.get("revision");  // the revision of the document the page holds
  let told = "";  // the revision, iteration and parameter the page last told Python it shows

  const fromPage = (ev) => {
    if (ev.source !== frame.contentWindow) return;
    const m = ev.data || {};
    if (m.backproplab === "request") {
      model.send({ kind: "request", id: m.id, url: m.url, body: m.body });
    } else if (m.backproplab === "state") {
      // The page says so on every redraw; Python hears only of a change (marimo re-runs cells on each),
      // and of every new document even at the same iteration, so cells reading the run run again.
      const param = m.param || "";
      const now = `${shown} ${m.iteration} ${param}`;
      if (now === told) return;
      told = now;
      model.set("iteration", m.iteration);
      model.set("selected", param);
      model.save_changes();
    }
  };
  window.addEventListener("message", fromPage);
  model.on("msg:custom", (msg) => {
    if (msg.kind !== "answer") return;
    if (msg.ok && msg.revision !== undefined) shown = msg.revision;
    frame.contentWindow.postMessage({ backproplab: "answer", id: msg.id, ok: msg.ok, data: msg.data,
      error: msg.error, status: msg.status }, "*");
  });
  model.on("change:document", () => {
    if (model.get("revision") === shown) return;  // the page asked for this one and has it
    shown = model.get("revision");
    frame.contentWindow.postMessage({ backproplab: "document", doc: model.get("document") }, "*");
  });
  model.on("change:height", () => { frame.style.height = `${model.get("height")}px`; });
  return () => window.removeEventListener("message", fromPage);
}

export default { render };
