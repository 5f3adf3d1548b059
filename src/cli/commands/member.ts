// member list: the cluster's members (member_command.go); add/remove/update are not here yet.
import { Command } from 'commander';
import { contextOf } from '../context.js';
import { longHelp } from '../flags.js';

const MEMBER_LIST_LONG = `When --write-out is set to simple, this command prints out comma-separated member lists for each endpoint.
The items in the lists are ID, Status, Name, Peer Addrs, Client Addrs, Is Learner.
`;

export function newMemberCommand(): Command {
  const member = new Command('member').usage('<subcommand>').description('Membership related commands');
  member.addCommand(
    longHelp(new Command('list'), MEMBER_LIST_LONG)
      .description('Lists all members in the cluster')
      .allowExcessArguments(true)
      .action(async (_o: unknown, cmd: Command) => {
        const ctx = contextOf(cmd);
        ctx.commandCtx(); // before the client, as etcdctl's commandCtx
        const printer = await ctx.printer();
        printer.memberList(await ctx.client().memberList());
      }),
  );
  return member;
}
