// "Your own network": paste or upload a spec and CSV, run it on the server, download the spec
// on screen. Errors are the spec reader's own one-line messages, shown next to the editor.
export function wireOwn(ctx) {
  const $ = (id) => document.getElementById(id);
  $("own").addEventListener("click", () => {
    $("own-panel").hidden = false;
    if (!$("spec-text").value) $("spec-text").value = ctx.doc().source.spec_text;
    $("spec-text").focus();
  });
  $("close-own").addEventListener("click", () => { $("own-panel").hidden = true; });
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
      $("own-panel").hidden = true;
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
