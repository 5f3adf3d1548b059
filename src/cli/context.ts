// What a command's action needs: the global options (flags, then ETCDCTL_* env), a lazily built
// client, and the printer picked from -w. Output goes through sinks so tests can capture it.
import type { Command } from 'commander';
import { EtcdClient } from '../client/client.js';
import type { ClientOptions } from '../client/connection.js';
import type { TransportFactory } from '../client/transport.js';
import type { Codec } from '../client/codec.js';

// How the CLI's client reaches etcd: the bundle entry (src/cli/entry.ts) hands in the HTTP/2
// transport with the embedded schema; otherwise main.ts uses grpc-js with proto/ parsed at run time.
let transport: TransportFactory | undefined;
export function setCliTransport(t: TransportFactory): void {
  transport = t;
}
export function hasCliTransport(): boolean {
  return transport !== undefined;
}

// The protobuf codec for -w protobuf (the bundle has the embedded schema; otherwise it is built
// from proto/ on demand).
let codecProvider: (() => Promise<Codec>) | undefined;
export function setCliCodec(p: () => Promise<Codec>): void {
  codecProvider = p;
}
import { createPrinter, type Printer, type Sink } from './printers/printer.js';
import { CliError, ExitCode } from './errors.js';

export interface GlobalOptions {
  endpoints: string[];
  debug: boolean;
  writeOut: string;
  hex: boolean;
  dialTimeout: number; // ms
  commandTimeout: number; // ms
  keepaliveTime: number;
  keepaliveTimeout: number;
  insecureTransport: boolean;
  insecureSkipTlsVerify: boolean;
  cert?: string;
  key?: string;
  cacert?: string;
  user?: string;
  password?: string;
  discoverySrv?: string;
}

export interface Io {
  out: Sink;
  err: Sink;
  stdin: NodeJS.ReadableStream;
}

export const defaultIo: Io = {
  out: (c) => void process.stdout.write(c),
  err: (c) => void process.stderr.write(c),
  // A getter: touching process.stdin sets up a stream (and its modules) that most commands never read.
  get stdin() {
    return process.stdin;
  },
};

let io: Io = defaultIo;
export function setIo(next: Io): void {
  io = next;
}
export function getIo(): Io {
  return io;
}

let rawArgv: string[] = [];
/** The command line as given (watch needs to see where `--` was). */
export function setRawArgv(argv: string[]): void {
  rawArgv = argv;
}
export function getRawArgv(): string[] {
  return rawArgv;
}

/**
 * What etcdctl does where it builds its client config (clientConfigFromCmd): ETCDCTL_* variables,
 * --debug's dump. main.ts sets it; it gets the running command.
 */
let configHook: ((cmd: Command) => void) | undefined;
export function setConfigHook(hook: (cmd: Command) => void): void {
  configHook = hook;
}

export class CliContext {
  private config: GlobalOptions | undefined;
  private timeoutAtCtx: number | undefined;
  private prompted = false;
  private clientInstance: EtcdClient | undefined;
  constructor(
    private readonly cmd: Command,
    readonly io: Io,
  ) {}

  /**
   * The global options. The first use is where etcdctl builds its client config: the ETCDCTL_*
   * variables apply from then on (and --debug lists the flags), as they do in etcdctl.
   */
  get globals(): GlobalOptions {
    if (!this.config) {
      configHook?.(this.cmd);
      this.config = globalsOf(rootOf(this.cmd));
    }
    return this.config;
  }

  /**
   * etcdctl's commandCtx, where a command takes it before building its client: the command
   * timeout is then the flag's (or the default), without ETCDCTL_COMMAND_TIMEOUT.
   */
  commandCtx(): void {
    if (!this.config) this.timeoutAtCtx = globalsOf(rootOf(this.cmd)).commandTimeout;
  }

  /** The client for the global options; created on first use. */
  client(): EtcdClient {
    if (!this.clientInstance) {
      this.clientInstance = new EtcdClient(clientOptions({ ...this.globals, commandTimeout: this.timeoutAtCtx ?? this.globals.commandTimeout }));
    }
    return this.clientInstance;
  }

  /**
   * The printer for -w. This is where etcdctl builds its client config (mustClientFromCmd): the
   * variables apply, the TLS flags are checked, a missing password is asked for, then -w is looked
   * at. `displayOnly`: -w and --hex from the flags alone (etcdctl's initDisplayFromCmd by itself).
   */
  async printer(opts: { valueOnly?: boolean; displayOnly?: boolean } = {}): Promise<Printer> {
    const g = opts.displayOnly ? globalsOf(rootOf(this.cmd)) : this.globals;
    if (!opts.displayOnly) checkTlsFlags(g);
    if (!opts.displayOnly && g.user && !g.password && !g.user.includes(':') && !this.prompted) {
      this.prompted = true;
      const { askPassword } = await import('./prompt.js');
      g.password = await askPassword(this.io.stdin as NodeJS.ReadStream, this.io.out);
    }
    return createPrinter(g.writeOut, { hex: g.hex, valueOnly: !!opts.valueOnly, out: this.io.out, err: this.io.err, codec: codecProvider });
  }

  /** The protobuf codec (-w protobuf). */
  codec(): Promise<Codec> {
    if (!codecProvider) throw new CliError(ExitCode.BadFeature, 'protobuf not supported as output format');
    return codecProvider();
  }

  close(): void {
    this.clientInstance?.close();
  }
}

/** etcdctl's keyAndCertFromCmd: --cert, --key and --cacert given empty are refused. */
function checkTlsFlags(g: GlobalOptions): void {
  for (const [flag, v] of [['--cert', g.cert], ['--key', g.key], ['--cacert', g.cacert]] as const) {
    if (v === '') throw new CliError(ExitCode.BadArgs, `empty string is passed to ${flag} option`);
  }
}

/** The client options etcdctl derives from its global flags. */
export function clientOptions(g: GlobalOptions): ClientOptions {
  checkTlsFlags(g);
  let auth: ClientOptions['auth'];
  if (g.user) {
    if (g.password) auth = { username: g.user, password: g.password };
    else {
      const i = g.user.indexOf(':');
      if (i < 0) throw new CliError(ExitCode.Error, 'password is required: use --user name:password or --password');
      auth = { username: g.user.slice(0, i), password: g.user.slice(i + 1) };
    }
  }
  const tlsGiven = !!(g.cert || g.key || g.cacert);
  return {
    endpoints: g.endpoints,
    dialTimeoutMs: g.dialTimeout,
    // etcdctl's context.WithTimeout: a zero or negative timeout has expired before the call.
    commandTimeoutMs: g.commandTimeout > 0 ? g.commandTimeout : -1,
    keepaliveTimeMs: g.keepaliveTime,
    keepaliveTimeoutMs: g.keepaliveTimeout,
    insecureTransport: tlsGiven ? false : g.insecureTransport,
    tls: { caFile: g.cacert, certFile: g.cert, keyFile: g.key, insecureSkipVerify: g.insecureSkipTlsVerify },
    auth,
    transport,
  };
}

const contexts = new WeakMap<Command, CliContext>();

/** The context of the running command (built once per command from its options with globals). */
export function contextOf(cmd: Command): CliContext {
  const root = rootOf(cmd);
  let ctx = contexts.get(root);
  if (!ctx) {
    ctx = new CliContext(cmd, io);
    contexts.set(root, ctx);
  }
  return ctx;
}

function rootOf(cmd: Command): Command {
  let root = cmd;
  while (root.parent) root = root.parent;
  return root;
}

function globalsOf(root: Command): GlobalOptions {
  const o = root.opts() as Record<string, unknown>;
  return {
    endpoints: String(o.endpoints).split(',').map((s) => s.trim()).filter((s) => s.length > 0),
    debug: !!o.debug,
    writeOut: String(o.writeOut),
    hex: !!o.hex,
    dialTimeout: o.dialTimeout as number,
    commandTimeout: o.commandTimeout as number,
    keepaliveTime: o.keepaliveTime as number,
    keepaliveTimeout: o.keepaliveTimeout as number,
    insecureTransport: o.insecureTransport !== false,
    insecureSkipTlsVerify: !!o.insecureSkipTlsVerify,
    cert: o.cert as string | undefined,
    key: o.key as string | undefined,
    cacert: o.cacert as string | undefined,
    user: o.user as string | undefined,
    password: o.password as string | undefined,
    discoverySrv: o.discoverySrv as string | undefined,
  };
}
