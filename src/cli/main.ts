// The CLI's entry: parses argv, runs the command, and is the one exit path: every failure becomes
// `Error: <message>` on stderr with etcdctl's exit code.
import { Command, CommanderError } from 'commander';
import { buildProgram, applyEnv, debugDump } from './program.js';
import { FlagParseError, resolve } from './cobra.js';
import { etcdctlUsage } from './usage.js';
import { CliError, ExitCode } from './errors.js';
import { ClientError } from '../client/connection.js';
import { EtcdError } from '../api/errors.js';
import { defaultIo, setIo, setRawArgv, contextOf, hasCliTransport, setCliTransport, setCliCodec, setConfigHook, type Io } from './context.js';
import { runServe } from './commands/serve.js';
import { useColor } from './color.js';

function setExitOverride(cmd: Command, io: Io): void {
  cmd.exitOverride((err) => {
    (err as CommanderError & { command?: Command }).command = cmd;
    throw err;
  });
  cmd.configureOutput({ writeOut: (s) => io.out(s), writeErr: () => {}, outputError: () => {} });
  for (const sub of cmd.commands) setExitOverride(sub, io);
}

/**
 * Runs etcdctl with `argv` (no node/script prefix); resolves to the exit code, or undefined for
 * `serve`, whose server keeps the process alive on its own.
 */
export async function run(argv: string[], io: Io = defaultIo): Promise<number | undefined> {
  if (argv[0] === 'serve') {
    // The server takes etcd's flags, some of which collide with etcdctl's: pass them through raw.
    await runServe(argv.slice(1));
    return undefined;
  }
  if (!hasCliTransport()) {
    // Not the bundle (which brings its own transport): grpc-js with proto/ parsed at run time. The
    // specifiers are computed so the bundler leaves grpc-js and proto-loader out of dist/etcdctl.cjs.
    const proto = (await import(new URL('../api/proto.js', import.meta.url).href)) as typeof import('../api/proto.js');
    const grpcT = (await import(new URL('../client/grpc-transport.js', import.meta.url).href)) as typeof import('../client/grpc-transport.js');
    setCliTransport(grpcT.grpcJsTransport(proto.loadApi));
    setCliCodec(async () => {
      const { buildSchema } = (await import(new URL('../client/schema.js', import.meta.url).href)) as typeof import('../client/schema.js');
      const { Codec } = await import('../client/codec.js');
      return new Codec(buildSchema(proto.protoDir()));
    });
  }
  setIo(io);
  setRawArgv(argv);
  const program = buildProgram();
  setExitOverride(program, io);
  let active: Command | undefined;
  program.hook('preAction', (_root, actionCmd) => {
    active = actionCmd;
  });
  setConfigHook((cmd) => {
    applyEnv(program, cmd, process.env, io);
    if ((program.opts() as { debug?: boolean }).debug) debugDump(program, cmd, io);
  });
  try {
    let r: ReturnType<typeof resolve>;
    try {
      r = resolve(program, argv);
    } catch (e) {
      if (!(e instanceof FlagParseError)) throw e;
      // cobra: the error, the command's usage on stdout, a blank line; then etcdctl's own Error line.
      return report(new CliError(ExitCode.Error, e.message, `Error: ${e.message}\n\n`), io, () => io.out(etcdctlUsage(e.cmd!)));
    }
    if ('error' in r && r.error !== undefined) {
      return report(new CliError(ExitCode.Error, r.error, `Error: ${r.error}\nRun 'etcdctl --help' for usage.\n`), io);
    }
    if ('help' in r && r.help) {
      io.out(etcdctlUsage(r.cmd));
      return ExitCode.Success;
    }
    await program.parseAsync((r as { argv: string[] }).argv, { from: 'user' });
    return ExitCode.Success;
  } catch (e) {
    return report(e, io);
  } finally {
    if (active) contextOf(active).close();
  }
}

/** Prints an error the way etcdctl's ExitWithError does and returns its exit code. */
export function report(e: unknown, io: Io, usage?: () => void): number {
  let code: number = ExitCode.Error;
  let message: string;
  if (e instanceof CliError) {
    code = e.exitCode;
    message = e.message;
    if (e.stderrPrefix) io.err(e.stderrPrefix);
    usage?.();
    if (e.stdout) io.out(e.stdout);
  } else if (e instanceof CommanderError) {
    const r = commanderError(e);
    if (r === undefined) return ExitCode.Success;
    [code, message] = r;
  } else if (e instanceof ClientError) {
    code = e.duringAuth ? ExitCode.BadConnection : ExitCode.Error;
    message = e.message;
  } else if (e instanceof EtcdError) {
    message = e.message;
  } else {
    message = e instanceof Error ? e.message : String(e);
  }
  if (message === '') return code; // the command already said what went wrong
  const prefix = useColor(process.stderr as NodeJS.WriteStream) && io === defaultIo ? '\x1b[31mError:\x1b[39m' : 'Error:';
  io.err(`${prefix} ${message}\n`);
  return code;
}

/** Commander's own errors (cobra.ts parses the command line first, so only help and the unexpected). */
function commanderError(e: CommanderError): [number, string] | undefined {
  if (e.code === 'commander.helpDisplayed' || e.code === 'commander.help' || e.code === 'commander.version') return undefined;
  return [ExitCode.Error, e.message.replace(/^error: /, '')];
}
