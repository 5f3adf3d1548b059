// Reads a password for `--user name` given without one, as etcdctl does: "Password: " and a line
// read without echo from a terminal, or a plain line from piped stdin.
export async function askPassword(stdin: NodeJS.ReadStream, out: (s: string) => void): Promise<string> {
  out('Password: ');
  const tty = !!stdin.isTTY && typeof stdin.setRawMode === 'function';
  if (tty) stdin.setRawMode(true);
  stdin.resume();
  try {
    return await new Promise<string>((resolve, reject) => {
      let buf = '';
      const onData = (chunk: Buffer | string) => {
        for (const ch of chunk.toString()) {
          if (ch === '\r' || ch === '\n') {
            cleanup();
            return resolve(buf);
          }
          if (ch === '\u0003') {
            cleanup();
            return reject(new Error('interrupted'));
          }
          if (ch === '\u007f' || ch === '\b') buf = buf.slice(0, -1);
          else buf += ch;
        }
      };
      const onEnd = () => {
        cleanup();
        resolve(buf);
      };
      const cleanup = () => {
        stdin.off('data', onData);
        stdin.off('end', onEnd);
        stdin.pause();
      };
      stdin.on('data', onData);
      stdin.on('end', onEnd);
    });
  } finally {
    if (tty) stdin.setRawMode(false);
    out('\n');
  }
}
