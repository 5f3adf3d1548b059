// member list: the cluster's members (member_command.go); add/remove/update are not here yet.
import { Command } from 'commander';
import { contextOf } from '../context.js';

export function newMemberCommand(): Command {
  const member = new Command('member').description('Membership related commands');
  member.addCommand(
    new Command('list')
      .description('Lists all members in the cluster')
      .allowExcessArguments(true)
      .action(async (_o: unknown, cmd: Command) => {
        const ctx = contextOf(cmd);
        const printer = await ctx.printer();
        printer.memberList(await ctx.client().memberList());
      }),
  );
  // Without a known subcommand, etcdctl prints the command's help (exit 0).
  member.argument('[args...]').allowExcessArguments(true).action(() => member.outputHelp());
  return member;
}
