import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** How a child process ended: its exit code (0 when it succeeded) and what it printed. */
export interface NodeResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node <args>` in `cwd` with only PATH and `env` in its environment, and resolves with how
 * it ended, failure included (never rejects for a non-zero exit).
 */
export async function runNode(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<NodeResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, args, {
      cwd,
      env: { PATH: process.env.PATH, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}
