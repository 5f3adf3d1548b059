// alarm list | disarm: the cluster's raised alarms (alarm_command.go). disarm lifts every alarm
// that list shows, one request each, as clientv3 does for an empty AlarmMember.
import { Command } from 'commander';
import { contextOf } from '../context.js';
import { CliError, ExitCode } from '../errors.js';

export function newAlarmCommand(): Command {
  const alarm = new Command('alarm').usage('<subcommand>').description('Alarm related commands');
  alarm.addCommand(
    new Command('disarm')
      .description('Disarms all alarms')
      .argument('[args...]')
      .allowExcessArguments(true)
      .action(async (args: string[], _o: unknown, cmd: Command) => {
        if (args.length !== 0) throw new CliError(ExitCode.BadArgs, 'alarm disarm command accepts no arguments');
        const ctx = contextOf(cmd);
        ctx.commandCtx(); // before the client, as etcdctl's commandCtx
        const printer = await ctx.printer();
        printer.alarm(await ctx.client().alarmDisarmAll());
      }),
  );
  alarm.addCommand(
    new Command('list')
      .description('Lists all alarms')
      .argument('[args...]')
      .allowExcessArguments(true)
      .action(async (args: string[], _o: unknown, cmd: Command) => {
        if (args.length !== 0) throw new CliError(ExitCode.BadArgs, 'alarm list command accepts no arguments');
        const ctx = contextOf(cmd);
        ctx.commandCtx(); // before the client, as etcdctl's commandCtx
        const printer = await ctx.printer();
        printer.alarm(await ctx.client().alarmList());
      }),
  );
  return alarm;
}
