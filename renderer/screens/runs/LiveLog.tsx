// The live log of a run: filterable by level and text, following new lines
// unless the user scrolled up to read (then a button brings them back).
import { memo, useLayoutEffect, useMemo, useRef, useState } from 'react';
import type { LogLevel } from '../../../shared/progress';
import { Icon } from '../../components/Icon';
import {
  countByLevel,
  defaultLogFilter,
  filterLog,
  LOG_LEVELS,
  type LogEntry,
  type LogFilter,
} from '../../lib/log-filter';
import { formatClock, formatNumber } from '../../lib/format';

const LogLine = memo(function LogLine({ entry }: { entry: LogEntry }) {
  return (
    <div className={`log-line level-${entry.level}`} data-testid="log-line" data-level={entry.level}>
      <span className="log-time">{formatClock(entry.at)}</span>
      <span className="log-level">{entry.level}</span>
      {entry.table && <span className="log-table">{entry.table}</span>}
      <span className="log-message">{entry.message}</span>
    </div>
  );
});

/** Within this many pixels of the bottom counts as "at the bottom". */
const STICK_THRESHOLD = 24;

export function LiveLog({ entries, droppedLines }: { entries: readonly LogEntry[]; droppedLines: number }) {
  const [filter, setFilter] = useState<LogFilter>(defaultLogFilter);
  const [following, setFollowing] = useState(true);
  const scrollRef = useRef<HTMLDivElement>(null);
  const visible = useMemo(() => filterLog(entries, filter), [entries, filter]);
  const counts = useMemo(() => countByLevel(entries), [entries]);

  useLayoutEffect(() => {
    const element = scrollRef.current;
    if (following && element) element.scrollTop = element.scrollHeight;
  }, [visible, following]);

  const onScroll = () => {
    const element = scrollRef.current;
    if (!element) return;
    const atBottom = element.scrollHeight - element.scrollTop - element.clientHeight <= STICK_THRESHOLD;
    if (atBottom !== following) setFollowing(atBottom);
  };

  const toggleLevel = (level: LogLevel) =>
    setFilter((current) => {
      const levels = new Set(current.levels);
      if (levels.has(level)) levels.delete(level);
      else levels.add(level);
      return { ...current, levels };
    });

  return (
    <div className="live-log" data-testid="live-log">
      <div className="toolbar compact">
        <span className="section-title">Log</span>
        <div className="chip-group" role="group" aria-label="Log levels">
          {LOG_LEVELS.map((level) => (
            <button
              key={level}
              type="button"
              className={`chip level-${level}`}
              aria-pressed={filter.levels.has(level)}
              onClick={() => toggleLevel(level)}
              data-testid={`log-level-${level}`}
            >
              {level} <span className="chip-count">{formatNumber(counts[level])}</span>
            </button>
          ))}
        </div>
        <label className="search-box small">
          <Icon name="search" size={14} />
          <input
            type="search"
            placeholder="Filter log"
            value={filter.text}
            onChange={(event) => setFilter((current) => ({ ...current, text: event.target.value }))}
            aria-label="Filter log lines"
            data-testid="log-filter"
          />
        </label>
        <span className="spacer" />
        {!following && (
          <button type="button" className="btn btn-small" onClick={() => setFollowing(true)} data-testid="log-follow">
            <Icon name="chevronDown" size={14} />
            Jump to latest
          </button>
        )}
      </div>
      <div
        className="log-body"
        ref={scrollRef}
        onScroll={onScroll}
        tabIndex={0}
        role="log"
        aria-live="off"
        aria-label="Run log"
        data-testid="log-body"
        data-following={following}
      >
        {droppedLines > 0 && (
          <div className="log-dropped">{formatNumber(droppedLines)} earlier lines are not shown.</div>
        )}
        {visible.length === 0 && (
          <div className="log-empty muted">
            {entries.length === 0 ? 'No log lines yet.' : 'No line matches the filter.'}
          </div>
        )}
        {visible.map((entry) => (
          <LogLine key={entry.seq} entry={entry} />
        ))}
      </div>
    </div>
  );
}
