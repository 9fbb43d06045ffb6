import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';

/** A helper process of the harness (load generator, floor or echo server) talking over IPC. */
export interface Helper<Ready> {
  child: ChildProcess;
  /** What the helper sent when it was ready (e.g. its port). */
  ready: Ready;
  /** Ends the helper (SIGTERM) and waits for it to exit. */
  stop(): Promise<void>;
}

/**
 * Starts `script` (a TypeScript file, run by Node's type stripping) as a child with IPC and waits for
 * its first message; `env` is added to the harness's environment. Rejects when it exits first or
 * says nothing within `timeoutMs`.
 */
export async function startHelper<Ready>(script: URL, args: string[] = [], timeoutMs = 30_000, env: Record<string, string> = {}): Promise<Helper<Ready>> {
  const child = fork(script, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: ['--no-warnings'], env: { ...process.env, ...env } });
  const first = new Promise<Ready>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script.pathname} was not ready within ${timeoutMs} ms`)), timeoutMs);
    child.once('message', (message) => {
      clearTimeout(timer);
      resolve(message as Ready);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${script.pathname} exited with ${code} before it was ready`));
    });
  });
  const ready = await first;
  return {
    child,
    ready,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Sends `message` to a helper and resolves with its next answer (helpers answer one request at a time). */
export function ask<Answer>(child: ChildProcess, message: unknown): Promise<Answer> {
  return new Promise<Answer>((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`helper exited (${code}) while working`));
    child.once('exit', onExit);
    child.once('message', (answer: { error?: string } & Answer) => {
      child.off('exit', onExit);
      if (answer && typeof answer === 'object' && 'error' in answer && answer.error) reject(new Error(answer.error));
      else resolve(answer);
    });
    child.send(message as object);
  });
}
