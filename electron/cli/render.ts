// How the CLI shows a run: a progress line redrawn in place with log lines
// above it on a terminal, one line per event otherwise, or JSON lines.
import type { RunEvent } from '../../shared/progress.js';

const n = (value: number): string => Math.round(value).toLocaleString('en-US');

function duration(seconds: number | null): string {
  if (seconds === null) return '';
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`;
  return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, '0')}m`;
}

export function progressLine(event: Extract<RunEvent, { type: 'progress' }>, width = 24): string {
  const fraction = event.total > 0 ? Math.min(event.done / event.total, 1) : 0;
  const filled = Math.round(fraction * width);
  const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
  const rate = event.perSecond ? ` ${n(event.perSecond)} ${event.unit}/s` : '';
  const eta = event.etaSeconds !== null && event.done < event.total ? ` ETA ${duration(event.etaSeconds)}` : '';
  const key = event.currentKey !== undefined ? ` key ${event.currentKey.slice(0, 24)}` : '';
  const pending = event.pending !== undefined ? ` ${n(event.pending)} pending` : '';
  const figures = `[${event.phase}] ${event.table ?? ''} ${bar} ${Math.floor(fraction * 100)}% ${n(event.done)}/${n(event.total)} ${event.unit}`;
  // While paused, why says more than a rate that is falling.
  return event.paused ? `${figures} paused: ${event.paused}` : `${figures}${rate}${pending}${eta}${key}`;
}

export interface Renderer {
  event(event: RunEvent): void;
  done(): void;
}

export function createRenderer(
  mode: 'json' | 'tty' | 'plain',
  out: NodeJS.WriteStream = process.stdout,
  err: NodeJS.WriteStream = process.stderr,
): Renderer {
  if (mode === 'json') {
    return { event: (event) => out.write(`${JSON.stringify(event)}\n`), done: () => undefined };
  }
  let progressShown = false;
  const clear = (): void => {
    if (progressShown) out.write('\r\x1b[2K');
    progressShown = false;
  };
  const line = (event: RunEvent): string | null => {
    const time = event.at.slice(11, 19);
    switch (event.type) {
      case 'phase':
        return `${time} ${event.phase.padEnd(9)} ${event.message}`;
      case 'log':
        return event.level === 'debug'
          ? null
          : `${time} ${event.level === 'info' ? '         ' : event.level.toUpperCase().padEnd(9)} ${event.table ? `${event.table}: ` : ''}${event.message}`;
      case 'finished':
        return `${time} ${event.status === 'succeeded' || event.status === 'finalized' ? 'done     ' : event.status.toUpperCase().padEnd(9)} ${event.message}`;
      case 'progress':
        return null;
    }
  };
  return {
    event(event) {
      if (event.type === 'progress') {
        if (mode === 'tty') {
          clear();
          out.write(progressLine(event, 24).slice(0, Math.max((out.columns ?? 120) - 1, 40)));
          progressShown = true;
        } else if (event.done === event.total) {
          out.write(`${progressLine(event, 24)}\n`);
        }
        return;
      }
      const text = line(event);
      if (text === null) return;
      clear();
      (event.type === 'log' && event.level === 'error' ? err : out).write(`${text}\n`);
    },
    done: clear,
  };
}
