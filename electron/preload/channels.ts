// The two IPC channels between the preload and the main process. Everything
// crosses through these: commands as (name, input), events as (name, payload).
export const INVOKE_CHANNEL = 'partwise:invoke';
export const EVENT_CHANNEL = 'partwise:event';
