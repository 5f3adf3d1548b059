// etcdctl's exit codes and the one exit path: commands throw CliError (or let client errors
// propagate); main.ts prints `Error: <message>` on stderr and exits with the code.
export const ExitCode = {
  Success: 0,
  Error: 1,
  BadConnection: 2,
  InvalidInput: 3, // txn and watch input
  BadFeature: 4, // a valid flag with an unsupported value, e.g. -w yaml
  Interrupted: 5, // watch canceled by the server
  IO: 6,
  BadArgs: 128,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export class CliError extends Error {
  constructor(
    readonly exitCode: ExitCode,
    message: string,
    /** Printed on stderr before the `Error:` line (etcdctl repeats flag errors after usage). */
    readonly stderrPrefix = '',
    /** Printed on stdout before exiting (usage help for bad flags). */
    readonly stdout = '',
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/**
 * A Go panic in etcdctl: the panic line (and a signal line for a runtime fault), then the goroutine
 * dump, which is left out here; exit 2.
 */
export function goPanic(msg: string, signal?: string): never {
  throw new CliError(2 as ExitCode, '', `panic: ${msg}\n${signal ? `[signal ${signal}]\n` : ''}\ngoroutine 1 [running]:\n`);
}
