// "Your own network": paste or upload a spec and CSV, run it on the server, download the spec
// on screen. Errors are the spec reader's own one-line messages, shown next to the editor.
export function wireOwn(ctx) {
  const $ = (id) => document.getElementById(id);
  $("own").addEventListener("click", () => {
    $("own-panel").hidden = false;
    if (!$("spec-text").value) $("spec-text").value = ctx.doc().source.spec_text;
    $("spec-text").focus();
  });
  $("close-own").addEventListener("click", () => closeDialog($));
  keepFocusIn($);
  for (const [input, target] of [["spec-file", "spec-text"], ["csv-file", "csv-text"]]) {
    $(input).addEventListener("change", async () => {
      const f = $(input).files[0];
      if (f) $(target).value = await f.text();
    });
  }
  $("run-spec").addEventListener("click", async () => {
    $("spec-error").textContent = "";
    if (!ctx.served) {
      $("spec-error").textContent = "This file holds one run and has no server to work out a new one; run " +
        "'backproplab serve' (or 'backproplab run FILE.toml' on the downloaded spec).";
      return;
    }
    const custom = { spec_text: $("spec-text").value, csv_text: $("csv-text").value || null };
    try {
      const doc = await ctx.post("/api/lesson", custom);
      closeDialog($);
      ctx.loadCustom(doc, custom);
    } catch (err) {
      $("spec-error").textContent = err.message;
    }
  });
  $("download-spec").addEventListener("click", () => {
    const text = $("own-panel").hidden || !$("spec-text").value ? ctx.doc().source.spec_text : $("spec-text").value;
    const a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob([text], { type: "application/toml" }));
    a.download = `${ctx.doc().source.name || "lesson"}.toml`;
    document.body.appendChild(a);
    a.click();
    a.remove();
  });
}

// The dialog closes with Escape too; the focus goes back to the button that opened it.
function closeDialog($) {
  $("own-panel").hidden = true;
  $("own").focus();
}

// While the dialog is open, Tab and Shift+Tab go round its own controls and never behind it.
function keepFocusIn($) {
  const panel = $("own-panel");
  const stops = () => [...panel.querySelectorAll("textarea, input, button, select, a[href], [tabindex]")]
    .filter((e) => !e.disabled && e.tabIndex >= 0 && e.getClientRects().length);
  panel.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") { ev.preventDefault(); closeDialog($); return; }
    const all = stops();
    if (ev.key !== "Tab" || !all.length) return;
    const [first, last] = [all[0], all[all.length - 1]];
    if (ev.shiftKey && document.activeElement === first) { ev.preventDefault(); last.focus(); }
    else if (!ev.shiftKey && document.activeElement === last) { ev.preventDefault(); first.focus(); }
  });
  document.addEventListener("focusin", (ev) => {
    if (!panel.hidden && !panel.contains(ev.target) && stops().length) stops()[0].focus();
  });
}
