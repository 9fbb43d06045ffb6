/**
 * A CLI provider for discovery tests: `node cli-manual.ts <mode>` prints a UTCP manual (mode
 * `manual`; `chatty` adds a log line before it), or misbehaves: `noise` (log lines, no manual), `huge`, `hang` (writes its pid to $PID_FILE), `fail`.
 * The manual's tool descriptions report what the process saw, so tests can check its environment.
 */
import { writeFileSync } from 'node:fs';

const mode = process.argv[2] ?? 'manual';

switch (mode) {
  case 'manual':
  case 'chatty': {
    const seen = `canary:${process.env.DISCOVERY_CANARY ?? 'absent'} greeting:${process.env.GREETING ?? 'absent'} home:${process.env.HOME ?? 'absent'} cwd:${process.cwd()}`;
    if (mode === 'chatty') console.log('starting the tool catalogue');
    console.log(
      JSON.stringify({
        utcp_version: '1.1.0',
        manual_version: '2.0.0',
        tools: [
          {
            name: 'list_files',
            description: seen,
            inputs: { type: 'object', properties: { dir: { type: 'string' } }, required: ['dir'] },
            tool_call_template: { call_template_type: 'cli', commands: [{ command: 'ls UTCP_ARG_dir_UTCP_END' }] },
          },
          {
            name: 'word_count',
            description: 'Counts words',
            inputs: { type: 'object', properties: { file: { type: 'string' } } },
            tool_call_template: { call_template_type: 'cli', commands: [{ command: 'wc -w UTCP_ARG_file_UTCP_END' }] },
          },
        ],
      }),
    );
    break;
  }
  case 'noise':
    console.log('warming up\nnothing to see here');
    break;
  case 'huge':
    process.stdout.write('x'.repeat(200_000));
    break;
  case 'hang':
    // Lets a test check that the process was stopped.
    if (process.env.PID_FILE) writeFileSync(process.env.PID_FILE, String(process.pid));
    setInterval(() => {}, 1000);
    break;
  case 'fail':
    console.error('cannot list tools');
    process.exit(3);
    break;
  default:
    process.exit(64);
}
