// The HTTP/2 :authority filter (src/server/h2/authority.ts): the HPACK decoder against RFC 7541's
// examples and nghttp2's encoder, :authority normalization against nghttp2's own check, and the
// client-stream rewriter in front of node's http2 server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import {
  H2_PREFACE,
  HUFFMAN_CODES,
  HUFFMAN_LENGTHS,
  ClientStreamRewriter,
  HpackDecoder,
  authorityNeedsRewrite,
  normalizeAuthority,
  parseFrames,
  stripFirstSettingsAck,
} from '../../dist/server/h2/authority.js';
import { h2Frame as frame, hpackInt, hpackStr } from '../helpers.mjs';

const hex = (s) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

const SETTINGS = frame(4, 0, 0, Buffer.alloc(0));

const STATIC_NAMES = { ':authority': 1, ':method': 2, ':path': 4, ':scheme': 6, 'content-type': 31, 'user-agent': 58 };

// An encoder that uses the dynamic table the way Go's does: an exact match in its table is sent
// indexed, anything else as a literal with incremental indexing (static name index when there is
// one). No eviction: the tests stay far below 4096 octets.
class IndexingEncoder {
  table = []; // newest first
  encode(fields) {
    const out = [];
    for (const [n, v] of fields) {
      if (n === ':method' && v === 'POST') {
        out.push(0x83);
        continue;
      }
      if (n === ':scheme' && v === 'http') {
        out.push(0x86);
        continue;
      }
      const i = this.table.findIndex(([tn, tv]) => tn === n && tv === v);
      if (i >= 0) {
        out.push(...hpackInt(0x80, 7, 62 + i));
        continue;
      }
      if (STATIC_NAMES[n]) out.push(...hpackInt(0x40, 6, STATIC_NAMES[n]));
      else out.push(0x40, ...hpackStr(n));
      out.push(...hpackStr(v));
      this.table.unshift([n, v]);
    }
    return Buffer.from(out);
  }
}

// Literal without indexing, new name, for every field: no table state at all.
const plainBlock = (fields) => Buffer.from(fields.flatMap(([n, v]) => [0x00, ...hpackStr(n), ...hpackStr(v)]));

const grpcFields = (authority, path = '/etcdserverpb.Maintenance/Status') => [
  [':method', 'POST'],
  [':scheme', 'http'],
  [':path', path],
  [':authority', authority],
  ['content-type', 'application/grpc'],
  ['user-agent', 'grpc-go/1.26.0'],
  ['te', 'trailers'],
];

// ---- ports and servers ----

let nextPort = 27500 + (process.pid % 40);
async function listen(server) {
  for (let tries = 0; tries < 100; tries++) {
    const port = nextPort;
    nextPort = nextPort >= 27599 ? 27500 : nextPort + 1;
    const ok = await new Promise((resolve, reject) => {
      const onErr = (e) => (e.code === 'EADDRINUSE' ? resolve(false) : reject(e));
      server.once('error', onErr);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', onErr);
        resolve(true);
      });
    });
    if (ok) return port;
  }
  throw new Error('no free port in 27500-27599');
}

/** A node http2 server that answers every stream 200 and records the request headers. */
async function h2Server() {
  const server = http2.createServer();
  const seen = [];
  server.on('stream', (s, headers) => {
    seen.push(headers);
    s.respond({ ':status': 200 });
    s.end('ok');
  });
  server.on('sessionError', () => {});
  // A session that ended in a connection error can keep server.close() from calling back: end them.
  const sessions = new Set();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  const port = await listen(server);
  const close = () =>
    new Promise((r) => {
      server.close(r);
      for (const s of sessions) s.destroy();
    });
  return { server, port, seen, close };
}

/**
 * Writes `chunks` to the server on a raw TCP connection and collects what comes back until each
 * stream in `streams` got a response HEADERS or an RST_STREAM, or a GOAWAY arrives.
 * Returns { status: Map(streamId -> ':status' | 'RST:<code>'), goaway: code | null }.
 */
function rawExchange(port, chunks, streams) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const dec = new HpackDecoder();
    const status = new Map();
    let goaway = null;
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => done(new Error(`timeout; got ${JSON.stringify([...status])}`)), 5000);
    const done = (err) => {
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve({ status, goaway });
    };
    sock.on('error', done);
    sock.on('connect', async () => {
      for (const c of chunks) {
        sock.write(c);
        if (chunks.length > 1) await new Promise((r) => setImmediate(r));
      }
    });
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      const { frames, consumed } = parseFrames(buf, 0);
      buf = buf.subarray(consumed);
      for (const f of frames) {
        if (f.type === 1) {
          // Response headers: nghttp2's encoder, decoded with ours.
          const st = dec.decode(f.payload).find(([n]) => n === ':status');
          status.set(f.streamId, st[1]);
        } else if (f.type === 3) status.set(f.streamId, `RST:${f.payload.readUInt32BE(0)}`);
        else if (f.type === 7) goaway = f.payload.readUInt32BE(4);
      }
      if (goaway !== null || streams.every((s) => status.has(s))) done();
    });
    sock.on('close', () => done());
  });
}

/** A TCP proxy to `port` that passes the client's bytes through a ClientStreamRewriter. */
async function rewritingProxy(port, opts) {
  const rewriters = [];
  const proxy = net.createServer((c) => {
    const rw = new ClientStreamRewriter(opts);
    rewriters.push(rw);
    const up = net.connect(port, '127.0.0.1');
    c.on('data', (d) => up.write(rw.push(d)));
    up.pipe(c);
    c.on('error', () => up.destroy());
    up.on('error', () => c.destroy());
    c.on('close', () => up.destroy());
  });
  const proxyPort = await listen(proxy);
  return { proxyPort, rewriters, close: () => new Promise((r) => proxy.close(r)) };
}

// ---- HPACK ----

test('Huffman table: 257 codes, canonical (consecutive per length in symbol order), complete (Kraft sum 1)', () => {
  assert.equal(HUFFMAN_CODES.length, 257);
  assert.equal(HUFFMAN_LENGTHS.length, 257);
  const order = [...Array(257).keys()].sort((a, b) => HUFFMAN_LENGTHS[a] - HUFFMAN_LENGTHS[b] || a - b);
  let code = 0;
  let kraft = 0;
  order.forEach((s, i) => {
    if (i > 0) code = (code + 1) * 2 ** (HUFFMAN_LENGTHS[s] - HUFFMAN_LENGTHS[order[i - 1]]);
    assert.equal(HUFFMAN_CODES[s], code, `symbol ${s}`);
    kraft += 2 ** -HUFFMAN_LENGTHS[s];
  });
  assert.equal(kraft, 1);
  assert.equal(HUFFMAN_LENGTHS[256], 30);
  assert.equal(HUFFMAN_CODES[256], 0x3fffffff);
  assert.equal(HUFFMAN_CODES['a'.charCodeAt(0)], 0x3);
});

test('RFC 7541 C.2: one field of each representation', () => {
  const d = new HpackDecoder();
  assert.deepEqual(d.decode(hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572')), [
    ['custom-key', 'custom-header'],
  ]);
  assert.deepEqual(d.dynamicTable(), [['custom-key', 'custom-header']]);
  assert.equal(d.tableSize, 55);

  const d2 = new HpackDecoder();
  assert.deepEqual(d2.decode(hex('040c 2f73 616d 706c 652f 7061 7468')), [[':path', '/sample/path']]);
  assert.equal(d2.tableSize, 0);

  const d3 = new HpackDecoder();
  assert.deepEqual(d3.decodeFields(hex('1008 7061 7373 776f 7264 0673 6563 7265 74')), [
    { name: 'password', value: 'secret', neverIndexed: true },
  ]);
  assert.equal(d3.tableSize, 0);

  const d4 = new HpackDecoder();
  assert.deepEqual(d4.decode(hex('82')), [[':method', 'GET']]);
  assert.equal(d4.tableSize, 0);
});

const C3_C4_EXPECT = [
  {
    fields: [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']],
    table: [[':authority', 'www.example.com']],
    size: 57,
  },
  {
    fields: [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com'], ['cache-control', 'no-cache']],
    table: [['cache-control', 'no-cache'], [':authority', 'www.example.com']],
    size: 110,
  },
  {
    fields: [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value']],
    table: [['custom-key', 'custom-value'], ['cache-control', 'no-cache'], [':authority', 'www.example.com']],
    size: 164,
  },
];

function checkSequence(blocks, expect, opts) {
  const d = new HpackDecoder(opts);
  blocks.forEach((b, i) => {
    assert.deepEqual(d.decode(hex(b)), expect[i].fields, `block ${i + 1}`);
    assert.deepEqual(d.dynamicTable(), expect[i].table, `table after block ${i + 1}`);
    assert.equal(d.tableSize, expect[i].size, `table size after block ${i + 1}`);
  });
}

test('RFC 7541 C.3: three requests without Huffman, one decoder', () => {
  checkSequence(
    [
      '8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d',
      '8286 84be 5808 6e6f 2d63 6163 6865',
      '8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65',
    ],
    C3_C4_EXPECT,
  );
});

test('RFC 7541 C.4: the same requests with Huffman, one decoder', () => {
  checkSequence(
    [
      '8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff',
      '8286 84be 5886 a8eb 1064 9cbf',
      '8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf',
    ],
    C3_C4_EXPECT,
  );
});

test('RFC 7541 C.5: responses with a 256-octet table, entries evicted', () => {
  const date1 = 'Mon, 21 Oct 2013 20:13:21 GMT';
  const date2 = 'Mon, 21 Oct 2013 20:13:22 GMT';
  const loc = 'https://www.example.com';
  const cookie = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
  checkSequence(
    [
      `4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
       2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
       6c65 2e63 6f6d`,
      '4803 3330 37c1 c0bf',
      `88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
       54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
       5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
       3d31`,
    ],
    [
      {
        fields: [[':status', '302'], ['cache-control', 'private'], ['date', date1], ['location', loc]],
        table: [['location', loc], ['date', date1], ['cache-control', 'private'], [':status', '302']],
        size: 222,
      },
      {
        fields: [[':status', '307'], ['cache-control', 'private'], ['date', date1], ['location', loc]],
        table: [[':status', '307'], ['location', loc], ['date', date1], ['cache-control', 'private']],
        size: 222,
      },
      {
        fields: [[':status', '200'], ['cache-control', 'private'], ['date', date2], ['location', loc], ['content-encoding', 'gzip'], ['set-cookie', cookie]],
        table: [['set-cookie', cookie], ['content-encoding', 'gzip'], ['date', date2]],
        size: 215,
      },
    ],
    { maxTableSize: 256 },
  );
});

test('dynamic table size updates: applied with eviction, refused over the advertised limit or after a field', () => {
  const d = new HpackDecoder();
  d.decode(hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572')); // 55 octets
  d.decode(Buffer.from([0x20 | 30])); // size update to 30: the entry no longer fits
  assert.equal(d.maxTableSize, 30);
  assert.deepEqual(d.dynamicTable(), []);
  // 4096 = 31 + 4065: 0x3f then 4065 as 7-bit groups.
  assert.deepEqual(d.decode(Buffer.from([0x3f, 0xe1, 0x1f, 0x82])), [[':method', 'GET']]);
  assert.equal(d.maxTableSize, 4096);
  assert.throws(() => d.decode(Buffer.from([0x3f, 0xe2, 0x1f])), /exceeds the limit 4096/);
  assert.throws(() => d.decode(Buffer.from([0x82, 0x20])), /size update after a header field/);
  // An entry larger than the whole table empties it.
  const small = new HpackDecoder({ maxTableSize: 40 });
  small.decode(Buffer.from([0x40, ...hpackStr('a'), ...hpackStr('b')])); // 34 octets
  assert.equal(small.tableSize, 34);
  small.decode(Buffer.from([0x40, ...hpackStr('aa'), ...hpackStr('bbbbbbb')])); // 41 > 40
  assert.deepEqual(small.dynamicTable(), []);
  assert.equal(small.tableSize, 0);
});

test('malformed HPACK input is an Error naming the problem', () => {
  const bad = (bytes, re) => assert.throws(() => new HpackDecoder().decode(Buffer.from(bytes)), re);
  bad([0xff], /truncated integer/); // 7-bit prefix full, continuation missing
  bad([0xff, 0x80], /truncated integer/);
  bad([0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], /integer too large/);
  bad([0x80], /index 0/);
  bad([0xbe], /index 62 is past the tables/); // dynamic table empty
  bad([0x7f, 0x00], /index 63 is past the tables/); // 6-bit prefix: 63 + 0
  bad([0x04], /truncated string/);
  bad([0x04, 0x05, 0x61], /past the end/);
  bad([0x04, 0x81, 0x18], /padding is not a prefix of EOS/); // 'a' = 00011, then 000
  bad([0x04, 0x82, 0x1f, 0xff], /padding longer than 7 bits/); // 'a', then 11 one bits
  bad([0x04, 0x81, 0xff], /padding longer than 7 bits/);
  bad([0x04, 0x84, 0xff, 0xff, 0xff, 0xff], /contains EOS/);
  // Well-formed padding is accepted: 'a' + 111.
  assert.deepEqual(new HpackDecoder().decode(Buffer.from([0x04, 0x81, 0x1f])), [[':path', 'a']]);
});

test("the Huffman decoder agrees with nghttp2's encoder for every octet node lets through", async () => {
  // Node's client (nghttp2) Huffman-codes a value when that is shorter: padding each octet with
  // 5-bit symbols makes it so even for the 28-bit codes. Capture the blocks and decode them.
  const octets = [9, ...Array.from({ length: 0x7f - 0x20 }, (_, i) => 0x20 + i), ...Array.from({ length: 128 }, (_, i) => 0x80 + i)];
  const values = octets.map((o) => 'aeiost'.repeat(6) + String.fromCharCode(o) + '0123');
  const captured = [];
  const sink = net.createServer((c) => c.on('data', (d) => captured.push(d)));
  const port = await listen(sink);
  const client = http2.connect(`http://127.0.0.1:${port}`);
  client.on('error', () => {});
  for (let i = 0; i < values.length; i += 16) {
    const headers = { ':path': '/' };
    values.slice(i, i + 16).forEach((v, j) => (headers[`x-v${j}`] = v));
    client.request(headers).on('error', () => {});
  }
  const want = Math.ceil(values.length / 16);
  const dec = new HpackDecoder();
  const got = [];
  let blockOctets = 0;
  const deadline = Date.now() + 5000;
  while (got.length < want && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    const buf = Buffer.concat(captured);
    const { frames } = parseFrames(buf, H2_PREFACE.length);
    const headerFrames = frames.filter((f) => f.type === 1);
    for (const f of headerFrames.slice(got.length)) {
      assert.ok(f.flags & 0x4, 'one frame per block');
      blockOctets += f.payload.length;
      got.push(dec.decode(f.payload));
    }
  }
  client.destroy();
  await new Promise((r) => sink.close(r));
  assert.equal(got.length, want);
  const decoded = got.flatMap((fields) => fields.filter(([n]) => n.startsWith('x-v')).map(([, v]) => v));
  assert.deepEqual(decoded, values);
  const rawOctets = values.reduce((n, v) => n + v.length, 0);
  assert.ok(blockOctets < rawOctets * 0.9, `nghttp2 used Huffman (${blockOctets} < ${rawOctets})`);
});

// ---- :authority ----

test('normalizeAuthority: URL-shaped values become host[:port]; valid values are unchanged', () => {
  const cases = [
    ['http://127.0.0.1:2379', '127.0.0.1:2379'],
    ['https://host:2379/', 'host:2379'],
    ['HTTPS://host.example:443/v3/kv?x=1#f', 'host.example:443'],
    ['http://[::1]:2379', '[::1]:2379'],
    ['http://user@host:1', 'user@host:1'],
    ['unix://localhost:2379', 'localhost:2379'],
    ['unixs://localhost:2379/', 'localhost:2379'],
    ['unix:///var/run/etcd.sock', 'localhost'],
    ['unix://', 'localhost'],
    ['127.0.0.1:2379/', '127.0.0.1:2379'],
    ['http://ho st:1', 'ho%20st:1'],
    ['http://h\u00e9:1', 'h%E9:1'],
    ['127.0.0.1:2379', '127.0.0.1:2379'],
    ['localhost', 'localhost'],
    ['', 'localhost'],
    ['http://', 'localhost'],
    ["a-._~!$&'()*+,;=:@[]%", "a-._~!$&'()*+,;=:@[]%"],
  ];
  for (const [input, want] of cases) {
    assert.equal(normalizeAuthority(input), want, input);
    assert.equal(authorityNeedsRewrite(normalizeAuthority(input)), false, input);
  }
  assert.equal(authorityNeedsRewrite('http://127.0.0.1:2379'), true);
  assert.equal(authorityNeedsRewrite('127.0.0.1:2379'), false);
});

test("authorityNeedsRewrite matches nghttp2's own :authority check, octet by octet", async () => {
  const { port, close } = await h2Server();
  try {
    // One stream per octet (node refuses to *send* some of them, nghttp2 is the judge here).
    const octets = [0x09, ...Array.from({ length: 0x7f - 0x20 }, (_, i) => 0x20 + i), 0x80, 0xe9, 0xff];
    const chunks = [H2_PREFACE, SETTINGS];
    const streams = [];
    octets.forEach((o, i) => {
      const id = 1 + 2 * i;
      streams.push(id);
      const auth = 'a' + String.fromCharCode(o) + 'b';
      chunks.push(frame(1, 0x5, id, plainBlock([[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', auth]])));
    });
    chunks.push(frame(1, 0x5, 1 + 2 * octets.length, plainBlock([[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', '']])));
    streams.push(1 + 2 * octets.length);
    const { status } = await rawExchange(port, [Buffer.concat(chunks)], streams);
    octets.forEach((o, i) => {
      const accepted = status.get(1 + 2 * i) === '200';
      const auth = 'a' + String.fromCharCode(o) + 'b';
      assert.equal(!accepted, authorityNeedsRewrite(auth), `octet 0x${o.toString(16)}: nghttp2 ${accepted ? 'accepts' : 'refuses'} it`);
    });
    assert.equal(status.get(1 + 2 * octets.length), 'RST:1', 'an empty :authority is refused too');
    assert.equal(authorityNeedsRewrite(''), true);
  } finally {
    await close();
  }
});

// ---- the rewriter against node's http2 server ----

test('premise and fix: node refuses :authority http://127.0.0.1:PORT; through the rewriter the request arrives as 127.0.0.1:PORT', async () => {
  const { port, seen, close } = await h2Server();
  try {
    const bytes = Buffer.concat([H2_PREFACE, SETTINGS, frame(1, 0x5, 1, plainBlock(grpcFields(`http://127.0.0.1:${port}`)))]);
    const direct = await rawExchange(port, [bytes], [1]);
    assert.equal(direct.status.get(1), 'RST:1', 'RST_STREAM PROTOCOL_ERROR without the rewriter');
    assert.equal(seen.length, 0);

    const rw = new ClientStreamRewriter();
    const fixed = await rawExchange(port, [rw.push(bytes)], [1]);
    assert.equal(fixed.status.get(1), '200');
    assert.equal(seen.length, 1);
    assert.equal(seen[0][':authority'], `127.0.0.1:${port}`);
    assert.equal(seen[0][':path'], '/etcdserverpb.Maintenance/Status');
    assert.equal(seen[0]['te'], 'trailers');
    assert.equal(rw.rewritten, 1);
    assert.equal(rw.error, null);
  } finally {
    await close();
  }
});

test('several requests on one connection, later ones indexing the dynamic table as Go does', async () => {
  const { port, seen, close } = await h2Server();
  try {
    const enc = new IndexingEncoder();
    const auth = `http://127.0.0.1:${port}`;
    const paths = ['/etcdserverpb.Maintenance/Status', '/etcdserverpb.Maintenance/Status', '/etcdserverpb.Maintenance/HashKV', '/etcdserverpb.KV/Range'];
    const blocks = paths.map((p) => enc.encode(grpcFields(auth, p)));
    assert.ok(blocks[1].length < 12, 'the second block is all indexed references');
    const rw = new ClientStreamRewriter();
    const chunks = [rw.push(Buffer.concat([H2_PREFACE, SETTINGS]))];
    blocks.forEach((b, i) => {
      // A DATA frame between requests passes through untouched.
      const data = frame(0, 0x1, 1 + 2 * i, Buffer.from([0, 0, 0, 0, 0]));
      const hdr = frame(1, 0x4, 1 + 2 * i, b);
      const out = rw.push(Buffer.concat([hdr, data]));
      assert.ok(out.subarray(out.length - data.length).equals(data));
      chunks.push(out);
    });
    const { status } = await rawExchange(port, chunks, [1, 3, 5, 7]);
    assert.deepEqual([...status.values()], ['200', '200', '200', '200']);
    assert.deepEqual(seen.map((h) => h[':authority']), paths.map(() => `127.0.0.1:${port}`));
    assert.deepEqual(seen.map((h) => h[':path']), paths);
    assert.deepEqual(seen.map((h) => h['user-agent']), paths.map(() => 'grpc-go/1.26.0'));
    assert.equal(rw.rewritten, 4);

    // What goes to the server never adds to its dynamic table and references none of it.
    const out = Buffer.concat(chunks);
    for (const f of parseFrames(out, H2_PREFACE.length).frames.filter((f) => f.type === 1)) {
      const d = new HpackDecoder();
      d.decode(f.payload);
      assert.equal(d.tableSize, 0);
    }
  } finally {
    await close();
  }
});

test('HEADERS (padded, with priority) + CONTINUATION fed byte by byte: one clean HEADERS frame, other frames intact', async () => {
  const { port, seen, close } = await h2Server();
  try {
    const enc = new IndexingEncoder();
    const block = enc.encode(grpcFields(`http://127.0.0.1:${port}`));
    const priority = Buffer.from([0x00, 0x00, 0x00, 0x00, 0x0f]);
    const pad = Buffer.alloc(7);
    const first = block.subarray(0, 10);
    const second = block.subarray(10, 30);
    const third = block.subarray(30);
    const input = Buffer.concat([
      H2_PREFACE,
      SETTINGS,
      frame(8, 0, 0, Buffer.from([0, 0, 0x10, 0])), // WINDOW_UPDATE
      frame(1, 0x8 | 0x20, 1, Buffer.concat([Buffer.from([pad.length]), priority, first, pad])),
      frame(9, 0, 1, second),
      frame(9, 0x4, 1, third),
      frame(0, 0x1, 1, Buffer.from([0, 0, 0, 0, 2, 8, 1])), // DATA, END_STREAM
      frame(6, 0, 0, Buffer.alloc(8, 0xab)), // PING
    ]);
    const rw = new ClientStreamRewriter();
    const parts = [];
    for (let i = 0; i < input.length; i++) parts.push(rw.push(input.subarray(i, i + 1)));
    const out = Buffer.concat(parts);
    assert.ok(out.subarray(0, 24).equals(H2_PREFACE));
    const { frames, consumed } = parseFrames(out, 24);
    assert.equal(consumed, out.length);
    assert.deepEqual(frames.map((f) => f.type), [4, 8, 1, 0, 6]);
    const h = frames[2];
    assert.equal(h.flags, 0x4 | 0x20, 'END_HEADERS and PRIORITY, no PADDED');
    assert.ok(h.payload.subarray(0, 5).equals(priority));
    assert.deepEqual(new HpackDecoder().decode(h.payload.subarray(5)), grpcFields(`127.0.0.1:${port}`));
    const inFrames = parseFrames(input, 24).frames;
    for (const [i, j] of [[0, 0], [1, 1], [5, 3], [6, 4]]) {
      assert.ok(out.subarray(frames[j].start, frames[j].end).equals(input.subarray(inFrames[i].start, inFrames[i].end)));
    }
    const { status } = await rawExchange(port, [out], [1]);
    assert.equal(status.get(1), '200');
    assert.equal(seen[0][':authority'], `127.0.0.1:${port}`);
  } finally {
    await close();
  }
});

test('a block larger than the frame size is split into HEADERS + CONTINUATION; END_STREAM kept', async () => {
  const { port, seen, close } = await h2Server();
  try {
    const big = 'x'.repeat(20000);
    const fields = [...grpcFields(`http://127.0.0.1:${port}`), ['x-big', big]];
    const block = plainBlock(fields);
    const rw = new ClientStreamRewriter({ maxFrameSize: 16384 });
    const input = Buffer.concat([
      H2_PREFACE,
      SETTINGS,
      frame(1, 0x1, 1, block.subarray(0, 16000)),
      frame(9, 0x4, 1, block.subarray(16000)),
    ]);
    const out = Buffer.concat([rw.push(input.subarray(0, 5000)), rw.push(input.subarray(5000))]);
    const { frames } = parseFrames(out, 24);
    assert.deepEqual(frames.map((f) => [f.type, f.flags]), [[4, 0], [1, 0x1], [9, 0x4]]);
    assert.equal(frames[1].payload.length, 16384);
    const { status } = await rawExchange(port, [out], [1]);
    assert.equal(status.get(1), '200');
    assert.equal(seen[0][':authority'], `127.0.0.1:${port}`);
    assert.equal(seen[0]['x-big'], big);
  } finally {
    await close();
  }
});

test("node's own http2 client (nghttp2 encoder: Huffman, dynamic table) through a rewriting proxy", async () => {
  const { port, seen, close } = await h2Server();
  const proxy = await rewritingProxy(port);
  const client = http2.connect(`http://127.0.0.1:${proxy.proxyPort}`);
  try {
    const ask = (headers) =>
      new Promise((resolve, reject) => {
        const req = client.request(headers);
        req.on('response', (h) => resolve(h[':status']));
        req.on('error', reject);
        req.end();
      });
    const auth = `http://127.0.0.1:${port}`;
    for (let i = 0; i < 5; i++) {
      assert.equal(await ask({ ':authority': auth, ':path': `/p${i}`, ':method': 'POST', 'x-same': 'v'.repeat(50), 'x-i': `${i}` }), 200);
    }
    // And requests whose :authority is already valid are left alone.
    assert.equal(await ask({ ':authority': 'example:1', ':path': '/q' }), 200);
    assert.deepEqual(seen.map((h) => h[':authority']), [...Array(5).fill(`127.0.0.1:${port}`), 'example:1']);
    assert.deepEqual(seen.map((h) => h['x-i']), ['0', '1', '2', '3', '4', undefined]);
    assert.equal(proxy.rewriters[0].rewritten, 5);
    assert.equal(proxy.rewriters[0].error, null);
  } finally {
    client.destroy();
    await proxy.close();
    await close();
  }
});

test('a header block the decoder refuses becomes a COMPRESSION_ERROR at the server; bad framing passes through', async () => {
  const { port, close } = await h2Server();
  try {
    const rw = new ClientStreamRewriter();
    const out = rw.push(Buffer.concat([H2_PREFACE, SETTINGS, frame(1, 0x5, 1, Buffer.from([0xbe]))]));
    assert.match(rw.error.message, /index 62 is past the tables/);
    const { goaway } = await rawExchange(port, [out], [1]);
    assert.equal(goaway, 9, 'GOAWAY COMPRESSION_ERROR');

    // A CONTINUATION with no HEADERS before it: forwarded as is, the server's PROTOCOL_ERROR.
    const rw2 = new ClientStreamRewriter();
    const stray = Buffer.concat([H2_PREFACE, SETTINGS, frame(9, 0x4, 1, Buffer.from([0x82]))]);
    const out2 = rw2.push(stray);
    assert.ok(out2.equals(stray));
    assert.ok(rw2.error);
    const r2 = await rawExchange(port, [out2], [1]);
    assert.equal(r2.goaway, 1);

    // Not HTTP/2 at all: untouched.
    const rw3 = new ClientStreamRewriter();
    const h1 = Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.ok(rw3.push(h1).equals(h1));
    assert.ok(rw3.push(Buffer.from('more')).equals(Buffer.from('more')));
  } finally {
    await close();
  }
});

// ---- frames ----

test('parseFrames returns complete frames with offsets; stripFirstSettingsAck removes only the first ACK', () => {
  const ack = frame(4, 0x1, 0, Buffer.alloc(0));
  const ping = frame(6, 0, 0, Buffer.alloc(8));
  const buf = Buffer.concat([H2_PREFACE, SETTINGS, ack, ping, ack, ping.subarray(0, 12)]);
  const { frames, consumed } = parseFrames(buf, 24);
  assert.deepEqual(frames.map((f) => [f.type, f.flags, f.streamId, f.start, f.end, f.payload.length]), [
    [4, 0, 0, 24, 33, 0],
    [4, 1, 0, 33, 42, 0],
    [6, 0, 0, 42, 59, 8],
    [4, 1, 0, 59, 68, 0],
  ]);
  assert.equal(consumed, 68);
  assert.deepEqual(parseFrames(buf, 68), { frames: [], consumed: 68 });
  assert.equal(parseFrames(Buffer.from([0, 0, 0, 1, 0, 0x80, 0, 0, 3]), 0).frames[0].streamId, 3, 'reserved bit ignored');

  const stripped = stripFirstSettingsAck(buf);
  assert.ok(stripped.equals(Buffer.concat([H2_PREFACE, SETTINGS, ping, ack, ping.subarray(0, 12)])));
  const none = Buffer.concat([H2_PREFACE, SETTINGS, ping]);
  assert.equal(stripFirstSettingsAck(none), none);
  assert.equal(stripFirstSettingsAck(ack), ack, 'no preface: unchanged');
  assert.equal(H2_PREFACE.toString('latin1'), 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
});
