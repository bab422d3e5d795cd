// Numbers for people, as the command line shows them: rounding for display only, a typographic minus.
export const MINUS = "\u2212";

// A number as Python's display.number writes it, so that the page and the terminal agree: ``digits``
// decimals, but below 1 ``digits`` significant figures (6.3e−5 below 1e−4), and 1e9 or more in powers of ten.
export function fmt(value, digits = 2) {
  if (value === null || value === undefined) return "NaN";
  if (value === "Infinity") return "\u221e";
  if (value === "-Infinity") return MINUS + "\u221e";
  const v = Number(value);
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return (v > 0 ? "" : MINUS) + "\u221e";
  const size = Math.abs(v), sig = Math.max(digits, 1);
  let text = "";
  if (size >= 1e9) {
    text = precise(v, sig);
    if (text.includes("e")) {
      const [mantissa, exponent] = text.split("e");
      text = `${mantissa.includes(".") ? mantissa.replace(/\.?0+$/, "") : mantissa}e${parseInt(exponent, 10)}`;
    } else if (text.includes(".")) text = text.replace(/\.?0+$/, "");
  } else if (size > 0 && size < 1) {
    text = precise(v, sig);
    if (Math.abs(Number(text)) >= 1) text = "";  // 0.999 rounds up to 1: shown as numbers of 1 or more are
    else if (Math.abs(Number(text)) < 1e-4) {
      const [mantissa, exponent] = Number(text).toExponential(sig - 1).split("e");
      text = `${mantissa}e${parseInt(exponent, 10)}`;
    }
  }
  if (!text) {
    text = evenTie(v, Math.floor(Math.log10(size || 1)) + 1 + digits).toFixed(digits);
    if (Number(text) === 0) text = text.replace(/^-/, "");
  }
  return text.replace(/-/g, MINUS);
}

function precise(v, sig) {
  return evenTie(v, sig).toPrecision(sig);
}

// Python rounds a value that lies exactly halfway to the even neighbour (0.125 → 0.12, 2.5 → 2);
// JavaScript's toFixed and toPrecision round it up. Where ``v`` is such a tie at its ``keep``-th
// significant digit and that digit is even, the value is cut there first, so both write the same digits.
function evenTie(v, keep) {
  if (v === 0 || keep < 1 || keep > 20) return v;
  const [mantissa, exponent] = Math.abs(v).toExponential(40).split("e");
  const figures = mantissa.replace(".", "");
  if (!/^50*$/.test(figures.slice(keep)) || Number(figures[keep - 1]) % 2 === 1) return v;
  return Math.sign(v) * Number(`${figures.slice(0, keep)}e${parseInt(exponent, 10) - keep + 1}`);
}

// Data as Python's display.exact_number writes it, so that the page's x_i and y_i read as the terminal's:
// 0 and 0.5, not 0.00 and 0.50; a value with more than DATA_DIGITS decimals is written as fmt writes it.
export const DATA_DIGITS = 6;

export function exact(value, digits = 2) {
  const v = asNumber(value);
  if (Number.isFinite(v) && Math.abs(v) < 1e9) {
    for (let decimals = 0; decimals <= DATA_DIGITS; decimals++) {
      const text = v.toFixed(decimals);
      if (Number(text) === v) return (Number(text) === 0 ? "0" : text).replace(/-/g, MINUS);
    }
  }
  return fmt(value, digits);
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

export function shape(value) {
  const out = [];
  let v = value;
  while (Array.isArray(v)) {
    out.push(v.length);
    v = v[0];
  }
  return out;
}

