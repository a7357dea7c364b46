// Node's test runner over the files bin/run-tests.js chose, started in the order it gives them:
// node:test's run(), since `node --test <files>` sorts the files by name. Its one argument is a
// JSON object: files, concurrency, and the runner's options from the command line
// (testNamePatterns, only, timeout). Output: bin/test-reporter.mjs's; exit code 1 when a test failed.
import { run } from 'node:test';
import { Transform } from 'node:stream';
import reporter from './test-reporter.mjs';

const { files, concurrency, testNamePatterns, only, timeout } = JSON.parse(process.argv[2]);

const watch = new Transform({
  objectMode: true,
  transform(event, _enc, done) {
    // As `node --test` decides its exit code: a failed test, todo tests aside (a file that crashed fails its own test).
    if (event.type === 'test:fail' && event.data?.todo === undefined) process.exitCode = 1;
    done(null, event);
  },
});

run({ files, concurrency, testNamePatterns, only, timeout })
  .pipe(watch)
  .pipe(reporter)
  .pipe(process.stdout);
