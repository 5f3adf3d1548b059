// Usage texts as etcdctl prints them: its own template (ctlv3/help.go, through Go's tabwriter) for
// --help and after a bad flag, and cobra's default one, which txn's request parser prints after a
// bad flag on a request line.
import type { Command } from 'commander';
import { flagsOf, OURS_ONLY, type FlagDef } from './cobra.js';
import { longHelpOf } from './flags.js';
import { goQuote } from './printers/go-format.js';
import { ETCDCTL_VERSION, ETCD_API_VERSION } from './commands/version.js';

/**
 * Go's text/tabwriter with etcdctl's settings (minwidth 0, tabwidth 8, padding 1, padchar '\t'):
 * cells end with a tab; a column's cells, over consecutive lines that have it, are padded with
 * tabs to the widest cell plus one, rounded up to a tab stop.
 */
export function tabwrite(text: string): string {
  const lines = text.split('\n').map((l) => l.split('\t'));
  const width = (s: string) => [...s].length;
  const out: string[] = lines.map(() => '');
  // Column by column: the widths of a block of lines that all have a cell in that column.
  const format = (line0: number, line1: number, column: number) => {
    let i = line0;
    while (i < line1) {
      if (column >= lines[i]!.length - 1) {
        i++;
        continue;
      }
      const start = i;
      let w = 0;
      for (; i < line1 && column < lines[i]!.length - 1; i++) w = Math.max(w, width(lines[i]![column]!) + 1);
      const cellw = Math.ceil(w / 8) * 8;
      for (let j = start; j < i; j++) {
        const cell = lines[j]![column]!;
        out[j] += cell + '\t'.repeat(Math.ceil((cellw - width(cell)) / 8));
      }
      format(start, i, column + 1);
    }
  };
  format(0, lines.length, 0);
  return lines.map((l, i) => out[i] + l[l.length - 1]).join('\n');
}

function byName(a: FlagDef, b: FlagDef): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** etcdctl's etcdFlagUsages: one line per flag, sorted by name. */
function etcdFlagUsages(flags: FlagDef[]): string {
  return flags
    .filter((f) => !f.hidden)
    .sort(byName)
    .map((f) => {
      const head = f.short ? `  -${f.short}, --${f.name}` : `      --${f.name}`;
      const value = f.type === 'string' ? goQuote(f.def) : f.def;
      return `${head}${f.type === 'bool' ? `[=${value}]` : `=${value}`}\t${f.usage}\n`;
    })
    .join('');
}

/** The command's words below the root ("lease grant"), or the root's own name. */
function pathBelow(cmd: Command, top: Command): string {
  const parts = [cmd.name()];
  for (let c = cmd.parent; c && c !== top; c = c.parent) parts.unshift(c.name());
  return parts.join(' ');
}

function rootOf(cmd: Command): Command {
  let c = cmd;
  while (c.parent) c = c.parent;
  return c;
}

/** cobra's UseLine: the parents' path, the command's Use, and [flags]. */
function useLine(cmd: Command): string {
  // commander keeps the usage string given to .usage() here; its getter would make one up instead.
  const use = [cmd.name(), (cmd as unknown as { _usage?: string })._usage].filter(Boolean).join(' ');
  const parents: string[] = [];
  for (let c = cmd.parent; c; c = c.parent) parents.unshift(c.name());
  return [...parents, use].join(' ') + ' [flags]';
}

/** Every command below `cmd`, depth first, sorted by name at each level (cobra's order). */
function subcommands(cmd: Command): Command[] {
  const sorted = [...cmd.commands].sort((a, b) => (a.name() < b.name() ? -1 : 1));
  return sorted.flatMap((c) => [c, ...subcommands(c)]);
}

/** etcdctl's usage text for `cmd` (what --help and a bad flag print on stdout). */
export function etcdctlUsage(cmd: Command): string {
  const root = rootOf(cmd);
  const isRoot = cmd === root;
  const hasSubs = cmd.commands.length > 0;
  let s = `NAME:\n\t${isRoot ? cmd.name() : pathBelow(cmd, root)} - ${cmd.description()}\n`;
  s += `\nUSAGE:\n\t${useLine(cmd)}\n`;
  if (isRoot) s += `\nVERSION:\n\t${ETCDCTL_VERSION}\n`;
  if (hasSubs) {
    s += `\nAPI VERSION:\n\t${ETCD_API_VERSION}\n`;
    s += '\n\nCOMMANDS:\n';
    for (const c of subcommands(cmd)) if (c.commands.length === 0 && !OURS_ONLY.has(c.name())) s += `\t${pathBelow(c, cmd)}\t${c.description()}\n`;
  }
  const long = longHelpOf(cmd);
  if (long) s += `\nDESCRIPTION:\n${long.replace(/^[\n\t ]+|[\n\t ]+$/g, '').split('\n').map((l) => `\t${l}\n`).join('')}`;
  const { local, inherited } = flagsOf(cmd);
  s += `\nOPTIONS:\n${etcdFlagUsages(local)}`;
  if (!isRoot) s += `\nGLOBAL OPTIONS:\n${etcdFlagUsages(inherited)}`;
  return tabwrite(s + '\n');
}

/** pflag's FlagUsages: "  -s, --name type   usage (default x)", aligned. */
function pflagUsages(flags: FlagDef[]): string {
  const zero: Record<string, string> = { bool: 'false', string: '', int64: '0', int: '0', duration: '0s', stringSlice: '[]' };
  const TYPE_NAMES: Record<string, string> = { bool: '', int64: 'int', stringSlice: 'strings' };
  const rows = flags
    .filter((f) => !f.hidden)
    .sort(byName)
    .map((f) => {
      let head = f.short ? `  -${f.short}, --${f.name}` : `      --${f.name}`;
      const name = TYPE_NAMES[f.type] ?? f.type;
      if (name) head += ` ${name}`;
      let usage = f.usage;
      if (f.def !== zero[f.type]) usage += f.type === 'string' ? ` (default ${goQuote(f.def)})` : ` (default ${f.def})`;
      return [head, usage] as const;
    });
  const max = Math.max(...rows.map(([h]) => h.length)) + 1;
  return rows.map(([h, u]) => `${h} ${' '.repeat(max - h.length)} ${u}`.trimEnd() + '\n').join('');
}

/** cobra's default usage template, for a command without subcommands under a root without flags. */
export function cobraUsage(cmd: Command): string {
  return `Usage:\n  ${useLine(cmd).replace(/^\S+/, '')}\n\nFlags:\n${pflagUsages(flagsOf(cmd).local)}`;
}
