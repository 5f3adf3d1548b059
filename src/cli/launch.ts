// Starts dist/etcdctl.cjs through a V8 code cache (node 20 has no module.enableCompileCache):
// the bundle is compiled with vm.Script and cachedData, and the cache is (re)written after a run
// that had none or had it rejected. The cache lives next to the bundle, or in the temp directory
// when dist/ is read-only. Any failure falls back to a plain require.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as os from 'node:os';
import * as vm from 'node:vm';
import Module from 'node:module';

declare const __dirname: string;

function launch(): void {
  const file = path.join(__dirname, 'etcdctl.cjs');
  // `serve` imports the server (ESM) dynamically, which code compiled by vm.Script cannot do on
  // node 20; the server is long-running anyway, so it gains nothing from the cache.
  // `snapshot restore` likewise imports the server's storage module; a false match (a key named
  // so) only costs the cache.
  const args = process.argv.slice(2);
  const restore = args.indexOf('snapshot') >= 0 && args.indexOf('restore') > args.indexOf('snapshot');
  if (process.argv[2] === 'serve' || restore) {
    require(file);
    return;
  }
  let source: string;
  let stat: fs.Stats;
  try {
    source = fs.readFileSync(file, 'utf8');
    stat = fs.statSync(file);
  } catch {
    require(file);
    return;
  }
  const tag = `${process.version}-${stat.size}-${Math.floor(stat.mtimeMs)}`;
  const candidates = [path.join(__dirname, '.etcdctl.v8cache'), path.join(os.tmpdir(), `etcd-ts-etcdctl-${process.getuid?.() ?? 'u'}.v8cache`)];
  let cached: Buffer | undefined;
  for (const c of candidates) {
    try {
      const buf = fs.readFileSync(c);
      const nl = buf.indexOf(10);
      if (nl > 0 && buf.subarray(0, nl).toString() === tag) {
        cached = buf.subarray(nl + 1);
        break;
      }
    } catch {
      // no cache there
    }
  }
  const wrapper = Module.wrap(source);
  const script = new vm.Script(wrapper, { filename: file, cachedData: cached });
  const needWrite = !cached || script.cachedDataRejected === true;
  if (needWrite) {
    // Write the cache when the process ends, so functions compiled during the run are included.
    process.once('exit', () => {
      try {
        const data = script.createCachedData();
        const out = Buffer.concat([Buffer.from(tag + '\n'), data]);
        for (const c of candidates) {
          try {
            fs.writeFileSync(c + '.tmp' + process.pid, out);
            fs.renameSync(c + '.tmp' + process.pid, c);
            break;
          } catch {
            // try the next place
          }
        }
      } catch {
        // the cache is only an optimisation
      }
    });
  }
  const fn = script.runInThisContext() as (e: unknown, r: NodeRequire, m: unknown, f: string, d: string) => void;
  const mod = new Module(file);
  mod.filename = file;
  mod.paths = (Module as unknown as { _nodeModulePaths(d: string): string[] })._nodeModulePaths(path.dirname(file));
  const req = Module.createRequire(file);
  fn.call(mod.exports, mod.exports, req, mod, file, path.dirname(file));
}

launch();
