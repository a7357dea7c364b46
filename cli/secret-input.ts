import { password } from '@inquirer/prompts';
import { createInterface } from 'node:readline/promises';

/**
 * Secrets (webhook secrets, target URLs with their credentials) stay out of argv, where shell
 * history and `ps` would keep them: `-` reads one from stdin, or asks on a terminal without echo;
 * an environment variable is the other way.
 */

/** One line from a pipe, or a prompt on a terminal that shows nothing of what is typed. */
export async function readSecret(prompt: string, what: string): Promise<string> {
  let value: string | undefined;
  if (process.stdin.isTTY) {
    // On stderr, as the rest of the conversation: stdout stays the one JSON document of --json.
    value = await password({ message: prompt }, { output: process.stderr });
  } else {
    process.stderr.write(`${prompt} `);
    const rl = createInterface({ input: process.stdin, terminal: false });
    try {
      for await (const line of rl) {
        value = line;
        break;
      }
    } finally {
      rl.close();
    }
    process.stderr.write('\n');
  }
  const v = value?.trim();
  if (!v) throw new Error(`no ${what} given`);
  return v;
}

/**
 * The value of an option taking a secret: itself; `-`: read as above; absent: the environment
 * variable, else (when `askWhenMissing`) read as above, else undefined.
 */
export async function secretOption(
  value: string | undefined,
  env: { name: string; prompt: string; what: string; askWhenMissing?: boolean },
): Promise<string | undefined> {
  if (value === '-') return readSecret(env.prompt, env.what);
  if (value !== undefined) return value;
  const fromEnv = process.env[env.name]?.trim();
  if (fromEnv) return fromEnv;
  return env.askWhenMissing ? readSecret(env.prompt, env.what) : undefined;
}
