import { execFileSync } from 'node:child_process';

/** Compiles `dist/` once, for the tests that run the real server process. */
export default function setup(): void {
  execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
}
