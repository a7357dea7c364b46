/**
 * Markdown as the Temporal UI renders it (summaries and details of every workflow). Pure: the
 * workflow bundle imports it, so no Node built-ins here.
 */

/**
 * A Markdown code span showing `text` verbatim: the Temporal UI renders summaries and details as
 * Markdown, where a masked URL's `***` would turn into bold and an error's `<html>` or `_` into
 * markup. A fence longer than any backtick run inside keeps even backticks literal.
 */
export function mdCode(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  if (flat === '') return '–';
  const longest = Math.max(0, ...(flat.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longest + 1);
  const pad = flat.startsWith('`') || flat.endsWith('`') ? ' ' : '';
  return fence + pad + flat + pad + fence;
}

/**
 * Markdown for the Temporal UI's summary and details frames. The UI (2.42) makes each frame as
 * high as the rendered body, which leaves out the margins above the first and below the last
 * block, so about the last 30 px (a whole line) would be cut off. A last paragraph of one
 * no-break space (the UI escapes `&nbsp;`) takes that cut instead; elsewhere it is a blank line.
 */
export function forTemporalUi(markdown: string): string {
  return `${markdown}\n\n\u00a0`;
}
