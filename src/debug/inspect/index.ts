// What the user inspects while the VM is stopped, as VarNode trees the
// session turns into DAP scopes and variables (docs/debugger-views.md).
export type { VarNode, FormatOptions } from './node';
export { registerNodes, cpuRegisterNodes } from './registers';
export type { GuestControlView } from './registers';
export { vmcsNodes } from './vmcs';
export { pageTableNodes } from './paging';
export { interruptNodes } from './interrupts';
export { deviceNodes } from './devices';
export { statsNodes } from './stats';
export { evaluateCommand, completions, isCommand, UnknownCommandError, COMMAND_NAMES } from './commands';
export type { CommandResult } from './commands';
export { takeStopSnapshot } from './snapshot';
export type { StopSnapshot } from './snapshot';
export { ExitLog } from './exitLog';
export { parseNumber } from './format';
