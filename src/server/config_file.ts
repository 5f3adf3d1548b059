// etcd's --config-file: a YAML file whose keys are the flags' names, read instead of the command line
// and the ETCD_* variables (etcd ignores both when a config file is given). Only the part of YAML
// etcd's sample configuration uses is read: `key: value` lines, comments, quoted and plain scalars,
// flow ([a, b]) and block (- a) lists, and the two nested maps for TLS settings:
//
//   name: 'node1'
//   listen-client-urls: http://127.0.0.1:2379
//   client-transport-security:
//     cert-file: /etc/etcd/server.crt
//     client-cert-auth: true
//
// A value comes out as the text its flag takes (a list joined with commas, as the URL flags take
// them). Keys etcd does not know are skipped, as Go's YAML decoder skips fields it has no place for;
// an empty value (`data-dir:`) leaves the default.

/** TLS maps: their keys become the flags with these prefixes ('' for the client side). */
const TLS_SECTIONS: Record<string, string> = {
  'client-transport-security': '',
  'peer-transport-security': 'peer-',
};
const SKIPPED = '(skipped)';
const TLS_KEYS = new Set(['cert-file', 'key-file', 'client-cert-auth', 'trusted-ca-file', 'auto-tls', 'crl-file']);

export class ConfigFileError extends Error {
  constructor(file: string, line: number, message: string) {
    super(`${file}:${line}: ${message}`);
    this.name = 'ConfigFileError';
  }
}

/** A scalar's text: quotes removed ('' doubles a quote; "..." takes \" and \\), comments cut. */
function scalar(raw: string, fail: (m: string) => never): string | undefined {
  const s = raw.trim();
  if (s === '' || s === '~' || s === 'null') return undefined;
  if (s.startsWith("'")) {
    const m = /^'((?:[^']|'')*)'\s*(#.*)?$/.exec(s);
    if (!m) fail(`unterminated quoted value ${s}`);
    return m[1].replace(/''/g, "'");
  }
  if (s.startsWith('"')) {
    const m = /^"((?:[^"\\]|\\.)*)"\s*(#.*)?$/.exec(s);
    if (!m) fail(`unterminated quoted value ${s}`);
    return m[1].replace(/\\(.)/g, '$1');
  }
  const hash = s.search(/\s#/);
  return (hash >= 0 ? s.slice(0, hash) : s).trim();
}

/** A flow list's items: [a, 'b', "c"]. */
function flowList(raw: string, fail: (m: string) => never): string[] {
  const inner = raw.trim().replace(/\s+#.*$/, '');
  if (!inner.endsWith(']')) fail(`unterminated list ${raw.trim()}`);
  const body = inner.slice(1, -1).trim();
  if (body === '') return [];
  return body.split(',').map((item) => scalar(item, fail) ?? '');
}

/**
 * The settings a config file gives, by flag name. Throws ConfigFileError for what cannot be read
 * as the YAML described above.
 */
export function parseConfigFile(file: string, text: string): Map<string, string> {
  const out = new Map<string, string>();
  const lines = text.split(/\r?\n/);
  let section: string | undefined; // the TLS map being read, if any
  let listKey: string | undefined; // the key whose block list is being read
  let list: string[] = [];
  const endList = (): void => {
    if (listKey !== undefined) out.set(listKey, list.join(','));
    listKey = undefined;
    list = [];
  };
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n];
    const fail: (m: string) => never = (m) => {
      throw new ConfigFileError(file, n + 1, m);
    };
    if (/^\s*(#.*)?$/.test(line) || line.trim() === '---') continue;
    if (line.includes('\t') && /^\s*\t/.test(line)) fail('tabs are not allowed for indentation');
    const indent = line.length - line.trimStart().length;
    const body = line.trim();
    if (body.startsWith('- ') || body === '-') {
      if (listKey === undefined) fail(`a list item with no key: ${body}`);
      list.push(scalar(body.slice(1), fail) ?? '');
      continue;
    }
    const m = /^([A-Za-z0-9_.-]+)\s*:(?:\s+(.*))?$/.exec(body);
    if (!m) fail(`expected "key: value", found ${body}`);
    const [, key, rest = ''] = m;
    if (indent > 0 && section === undefined) {
      // a map under a key etcd has no map for: skipped with it
      if (listKey === undefined) fail(`unexpected indentation before ${key}`);
      listKey = undefined;
      section = SKIPPED;
    }
    endList();
    if (indent === 0) section = undefined;
    if (section === SKIPPED) continue;
    let name = key;
    if (section !== undefined) {
      if (!TLS_KEYS.has(key)) continue;
      name = TLS_SECTIONS[section] + key;
    } else if (key in TLS_SECTIONS) {
      if (rest.trim() !== '' && !rest.trim().startsWith('#')) fail(`${key} must be a map`);
      section = key;
      continue;
    }
    const r = rest.trim();
    if (r.startsWith('[')) out.set(name, flowList(r, fail).join(','));
    else if (r === '' || r.startsWith('#')) {
      listKey = name; // a block list may follow; if none does, the value is empty
    } else {
      const v = scalar(r, fail);
      if (v !== undefined) out.set(name, v);
    }
  }
  endList();
  for (const [k, v] of out) if (v === '') out.delete(k); // empty: the default
  return out;
}
