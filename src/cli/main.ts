// The CLI's entry: parses argv, runs the command, and is the one exit path: every failure becomes
// `Error: <message>` on stderr with etcdctl's exit code.
import { Command, CommanderError } from 'commander';
import { buildProgram, normalizeBoolFlags, applyEnv, debugDump, expandCommandPrefixes } from './program.js';
import { CliError, ExitCode } from './errors.js';
import { ClientError } from '../client/connection.js';
import { EtcdError } from '../api/errors.js';
import { defaultIo, setIo, setRawArgv, contextOf, hasCliTransport, setCliTransport, setCliCodec, type Io } from './context.js';
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
  program.hook('preAction', async (_root, actionCmd) => {
    active = actionCmd;
    applyEnv(program, process.env, io);
    const o = program.opts() as { user?: string; password?: string; debug?: boolean };
    if (o.debug) debugDump(program, io);
    if (o.user && !o.password && !o.user.includes(':')) {
      const { askPassword } = await import('./prompt.js');
      program.setOptionValueWithSource('password', await askPassword(io.stdin as NodeJS.ReadStream, io.out), 'cli');
    }
  });
  try {
    await program.parseAsync(expandCommandPrefixes(normalizeBoolFlags(argv), program), { from: 'user' });
    return ExitCode.Success;
  } catch (e) {
    // A bad flag or flag value: etcdctl shows the command's usage on stdout.
    const flagError = e instanceof CommanderError ? /unknownOption|optionMissingArgument/.test(e.code) : e instanceof CliError && e.stderrPrefix.startsWith('Error: invalid argument');
    if (flagError) {
      const cmd = (e as { command?: Command }).command ?? commandOf(argv, program);
      return report(e, io, () => io.out(cmd.helpInformation()));
    }
    return report(e, io);
  } finally {
    if (active) contextOf(active).close();
  }
}

/** The deepest command that argv's words name (for usage after a flag error). */
function commandOf(argv: string[], program: Command): Command {
  let cmd = program;
  for (const a of argv) {
    if (a === '--') break;
    const sub = cmd.commands.find((c) => c.name() === a);
    if (sub) cmd = sub;
  }
  return cmd;
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
    const r = commanderError(e, io);
    if (r === undefined) return ExitCode.Success;
    usage?.();
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

/** Commander's parse errors in pflag/cobra's words; undefined for help and version (exit 0). */
function commanderError(e: CommanderError, io: Io): [number, string] | undefined {
  switch (e.code) {
    case 'commander.helpDisplayed':
    case 'commander.help':
    case 'commander.version':
      return undefined;
    case 'commander.unknownCommand': {
      const name = /'([^']*)'/.exec(e.message)?.[1] ?? '';
      const msg = `unknown command "${name}" for "etcdctl"`;
      io.err(`Error: ${msg}\nRun 'etcdctl --help' for usage.\n`);
      return [ExitCode.Error, msg];
    }
    case 'commander.unknownOption': {
      const flag = /'([^']*)'/.exec(e.message)?.[1] ?? '';
      const msg = flag.startsWith('--') ? `unknown flag: ${flag.split('=')[0]}` : `unknown shorthand flag: '${flag[1]}' in ${flag}`;
      io.err(`Error: ${msg}\n\n`);
      return [ExitCode.Error, msg];
    }
    case 'commander.optionMissingArgument': {
      const flag = /'(--?[a-z-]+)/.exec(e.message.replace(/^error: /, ''))?.[1] ?? '';
      const long = /(--[a-z-]+)/.exec(e.message)?.[1] ?? flag;
      const msg = `flag needs an argument: ${long}`;
      io.err(`Error: ${msg}\n\n`);
      return [ExitCode.Error, msg];
    }
    default:
      return [ExitCode.Error, e.message.replace(/^error: /, '')];
  }
}
