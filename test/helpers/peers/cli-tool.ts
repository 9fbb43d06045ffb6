/**
 * A CLI tool for executor tests: `node cli-tool.ts <mode> [args…]`.
 * - `echo` prints `{ argv, env, cwd, pid }` as JSON: the arguments after the mode exactly as received,
 *   and a few environment variables (`GREETING`, `CLI_EXECUTOR_CANARY`, `HOME`, `NODE_OPTIONS`).
 * - `text` prints its arguments joined by spaces, as plain text.
 * - `fail` prints a secret on stderr and exits with 3.
 * - `hang` starts a child that also hangs, writes "<pid> <child pid>" to $PID_FILE, and never ends.
 * - `huge` prints 200 000 bytes.
 * Whatever the mode, when $MARK_FILE is set the tool writes it first, so tests can tell it ran.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';

const [mode = 'echo', ...rest] = process.argv.slice(2);
if (process.env.MARK_FILE) writeFileSync(process.env.MARK_FILE, 'ran');

switch (mode) {
  case 'echo': {
    const env: Record<string, string | null> = {};
    for (const name of ['GREETING', 'CLI_EXECUTOR_CANARY', 'HOME', 'NODE_OPTIONS']) env[name] = process.env[name] ?? null;
    console.log(JSON.stringify({ argv: rest, env, cwd: process.cwd(), pid: process.pid }));
    break;
  }
  case 'text':
    console.log(rest.join(' '));
    break;
  case 'fail':
    console.error('secret-token-in-stderr');
    process.exit(3);
    break;
  case 'hang': {
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    if (process.env.PID_FILE) writeFileSync(process.env.PID_FILE, `${process.pid} ${child.pid}`);
    setInterval(() => {}, 1000);
    break;
  }
  case 'huge':
    process.stdout.write('x'.repeat(200_000));
    break;
  default:
    process.exit(64);
}
