/**
 * What PostgreSQL's jsonb cannot hold although JSON.parse accepts it, found before an event is
 * answered 2xx: the inbox keeps the body as text and the apply parses it as jsonb, and such an
 * event could then never be applied. PostgreSQL refuses `\u0000` in strings, lone UTF-16
 * surrogates (`\ud800` without its pair), nesting deeper than its stack allows, and numbers beyond
 * `numeric` (131,072 digits before the point, 16,383 after).
 */

/** Well within PostgreSQL's default 2 MB stack (it handles about 10,000 levels). */
export const MAX_DEPTH = 1_000;
const MAX_INT_DIGITS = 131_072;
const MAX_FRACTION_DIGITS = 16_383;

const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
const hex4 = (text: string, at: number) => (/^[0-9a-fA-F]{4}$/.test(text.slice(at, at + 4)) ? parseInt(text.slice(at, at + 4), 16) : NaN);

/**
 * Why `text` (valid JSON) cannot be stored as jsonb, or undefined when it can. Cheap for ordinary
 * events: only a body with a `\u` escape, a long exponent or enough room for deep nesting is scanned.
 */
export function unstorableReason(text: string): string | undefined {
  if (!/\\u|[eE][+-]?\d{5}/.test(text) && openings(text) <= MAX_DEPTH) return undefined;
  return scan(text);
}

/** How many `[` and `{` the text holds, counted up to MAX_DEPTH + 1 (deeper nesting needs that many). */
function openings(text: string): number {
  let n = 0;
  for (const c of ['{', '[']) {
    for (let at = text.indexOf(c); at !== -1 && n <= MAX_DEPTH; at = text.indexOf(c, at + 1)) n++;
  }
  return n;
}

function scan(text: string): string | undefined {
  const n = text.length;
  let depth = 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      for (i++; i < n; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x22) break;
        if (d !== 0x5c) continue;
        i++;
        if (text.charCodeAt(i) !== 0x75) continue;
        const code = hex4(text, i + 1);
        i += 4;
        if (code === 0) return 'a string contains \\u0000, which PostgreSQL cannot store';
        if (code >= 0xdc00 && code <= 0xdfff) return `a string contains a lone surrogate \\u${text.slice(i - 3, i + 1)}, which PostgreSQL cannot store`;
        if (code >= 0xd800 && code <= 0xdbff) {
          const low = text.charCodeAt(i + 1) === 0x5c && text.charCodeAt(i + 2) === 0x75 ? hex4(text, i + 3) : NaN;
          if (!(low >= 0xdc00 && low <= 0xdfff)) return `a string contains a lone surrogate \\u${text.slice(i - 3, i + 1)}, which PostgreSQL cannot store`;
          i += 6;
        }
      }
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > MAX_DEPTH) return `the JSON nests deeper than ${MAX_DEPTH} levels`;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    } else if (c === 0x2d || isDigit(c)) {
      const end = numberEnd(text, i);
      const why = numberProblem(text.slice(i, end));
      if (why) return why;
      i = end - 1;
    }
  }
  return undefined;
}

function numberEnd(text: string, from: number): number {
  let i = from;
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i);
    // digits, '+', '-', '.', 'e', 'E'
    if (!(isDigit(c) || c === 0x2b || c === 0x2d || c === 0x2e || c === 0x65 || c === 0x45)) break;
  }
  return i;
}

/** Whether a JSON number fits PostgreSQL's numeric: digits before and after the point, after the exponent. */
function numberProblem(num: string): string | undefined {
  const m = /^-?(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(num);
  if (!m) return undefined;
  const int = m[1]!.replace(/^0+/, '');
  const fraction = m[2] ?? '';
  const exp = Number(m[3] ?? 0);
  const zero = int === '' && /^0*$/.test(fraction);
  const tooBig = !zero && int.length + exp > MAX_INT_DIGITS;
  const tooPrecise = fraction.length - exp > MAX_FRACTION_DIGITS;
  if (tooBig || tooPrecise || !Number.isSafeInteger(exp)) {
    return `the number ${num.length > 40 ? num.slice(0, 20) + '…' : num} is beyond what PostgreSQL's numeric holds`;
  }
  return undefined;
}
