// Serial console: one chardev that is both a unix socket (interactive console, the console
// proxy connects here) and a log file (get_console_output). logappend=on opens the log with
// O_APPEND, which is what lets the supervisor rotate/truncate it under a running QEMU.
import type { DomainSpec } from '../../spec.js';
import { type ArgvContext, type Fragment, opts } from './common.js';

export function serialArgs(_spec: DomainSpec, ctx: ArgvContext): Fragment {
  return [
    '-chardev',
    opts('socket', {
      id: 'serial0',
      path: ctx.paths.consoleSocket,
      server: true,
      wait: false,
      logfile: ctx.paths.serialLog,
      logappend: true,
    }),
    '-serial',
    'chardev:serial0',
  ];
}
