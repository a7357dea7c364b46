/**
 * Formatting shared by the CLI and the Temporal UI texts of the workflows. Pure: the workflow
 * bundle imports it, so no Node built-ins here.
 */

/** `850 ms`, `42 s`, `7 min`, `3 h`: a duration as people read it. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  const m = Math.round(s / 60);
  return m < 120 ? `${m} min` : `${Math.round(m / 60)} h`;
}

/** `2026-11-27 12:41:45 UTC`: an ISO time as a person reads it. */
export function utcTime(iso: string): string {
  return iso.replace('T', ' ').replace(/(\.\d+)?Z$/, ' UTC');
}

/** A text cut to `max` characters, an ellipsis marking the cut. */
export const clip = (text: string, max: number) => (text.length > max ? text.slice(0, max - 1) + '…' : text);
