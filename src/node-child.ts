/**
 * Starting JavaScript in a child process with the running Node.js (process.execPath), in a way
 * that also works inside an Electron app.
 *
 * In Electron, process.execPath is the app's own binary: started as is, it opens another
 * instance of the app instead of running the script. Electron runs it as plain Node.js when
 * ELECTRON_RUN_AS_NODE=1 is in its environment, so every child started with process.execPath
 * goes through nodeChildEnv (test/node-child.test.ts checks that src/ starts none otherwise).
 */
import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";

/**
 * The environment for a child started with process.execPath: `env` (default: this process's),
 * plus ELECTRON_RUN_AS_NODE=1 when running under Electron (process.versions.electron is set).
 */
export function nodeChildEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...env };
  if (process.versions.electron !== undefined) out.ELECTRON_RUN_AS_NODE = "1";
  return out;
}

/** spawn(process.execPath, [script, ...args]) with nodeChildEnv applied to `options.env`. */
export function spawnNode(script: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
  return spawn(process.execPath, [script, ...args], { ...options, env: nodeChildEnv(options.env) });
}
