'use strict';

/**
 * Page ids kept in this process: enough for one receiver process that may process a page again
 * after a restart. `max` bounds the memory (the oldest ids are forgotten first); hooksync sends a
 * target's pages one at a time and in order, so a copy that comes again is a recent one.
 */
function memoryStore({ max = 100_000 } = {}) {
  const done = new Set();
  const running = new Map();

  const remember = (pageId) => {
    done.add(pageId);
    if (done.size > max) done.delete(done.values().next().value);
  };

  return {
    async once(pageId, process) {
      // A copy that arrives while another is being processed waits for it: done when that one
      // succeeded, its own turn when it failed.
      for (let current = running.get(pageId); current; current = running.get(pageId)) {
        await current.catch(() => {});
      }
      if (done.has(pageId)) return 'duplicate';
      const run = Promise.resolve().then(() => process(undefined));
      running.set(pageId, run);
      try {
        await run;
        remember(pageId);
        return 'processed';
      } finally {
        running.delete(pageId);
      }
    },
  };
}

module.exports = { memoryStore };
