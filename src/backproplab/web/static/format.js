// Numbers for people, as the command line shows them: rounding for display only, a typographic minus.
export const MINUS = "\u2212";

export function fmt(value, digits = 2) {
  if (value === null || value === undefined) return "NaN";
  if (value === "Infinity") return "\u221e";
  if (value === "-Infinity") return MINUS + "\u221e";
  const v = Number(value);
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return (v > 0 ? "" : MINUS) + "\u221e";
  let text;
  if (Math.abs(v) >= 1e9 || (v !== 0 && Math.abs(v) < 0.5 * 10 ** -digits)) {
    text = v.toPrecision(Math.max(digits, 1));
    if (text.includes("e")) {
      const [mantissa, exponent] = text.split("e");
      text = `${mantissa}e${parseInt(exponent, 10)}`;
    }
  } else {
    text = v.toFixed(digits);
    if (Number(text) === 0) text = text.replace(/^-/, "");
  }
  return text.replace(/-/g, MINUS);
}

export function isNumber(value) {
  return typeof value === "number" && Number.isFinite(value);
}

export function asNumber(value) {
  if (value === "Infinity") return Infinity;
  if (value === "-Infinity") return -Infinity;
  if (value === null || value === undefined) return NaN;
  return Number(value);
}

// The entry of a (possibly nested) array value at an index list, or the value itself.
export function entry(value, index) {
  let v = value;
  for (const i of index || []) {
    if (!Array.isArray(v)) break;
    v = v[i];
  }
  return v;
}

export function flatten(value) {
  return Array.isArray(value) ? value.flat(Infinity) : [value];
}

export function norm(value) {
  return Math.sqrt(flatten(value).reduce((s, v) => s + asNumber(v) ** 2, 0));
}

export function shape(value) {
  const out = [];
  let v = value;
  while (Array.isArray(v)) {
    out.push(v.length);
    v = v[0];
  }
  return out;
}

export function lossSymbol(loss) {
  return { ssr: "SSR", mse: "MSE", bce: "BCE", cross_entropy: "CE" }[loss] || loss;
}
