// A table, partition or index name where space is short. Names of one tree
// share a long stem and differ at the end (`…_backup` and `…_partitioned`,
// `…_1037_bucket_id_6`), so the end is what stays: a narrow cell drops the
// middle first, then the start, never the tail. The whole name is in the
// title (hover) and one click away on the clipboard.
import { useEffect, useState, type MouseEvent } from 'react';
import { copyText } from './CopyButton';
import { Icon } from './Icon';
import './ObjectName.css';

const SEPARATORS = '_.-';

/**
 * Where a name is cut when it does not fit: the head (elided first) and the
 * tail (kept), split after a separator so that the tail keeps at least
 * `tailShare` of the name, whole words where there are any.
 */
export function splitName(name: string, tailShare = 0.45, stem?: string): [string, string] {
  // A name made of a known stem and a suffix (a table's `_partitioned`, `_backup`): the suffix is what differs.
  if (stem && name.length > stem.length && name.startsWith(stem)) return [stem, name.slice(stem.length)];
  const longestHead = Math.floor(name.length * (1 - tailShare));
  for (let cut = longestHead; cut > Math.floor(name.length / 4); cut--) {
    if (SEPARATORS.includes(name[cut - 1]!)) return [name.slice(0, cut), name.slice(cut)];
  }
  return [name.slice(0, longestHead), name.slice(longestHead)];
}

export function ObjectName({
  name,
  prefix = '',
  stem,
  copy = true,
  className,
  testId = 'object-name',
}: {
  name: string;
  /** Shown muted before the name and copied with it, e.g. `public.`. */
  prefix?: string;
  /** The start the name shares with its neighbours (e.g. its table's name): cut first, whatever its length. */
  stem?: string;
  copy?: boolean;
  className?: string;
  testId?: string;
}) {
  const full = prefix + name;
  const [head, tail] = splitName(name, undefined, stem);
  return (
    <span
      className={className ? `object-name mono ${className}` : 'object-name mono'}
      title={full}
      data-testid={testId}
      data-name={full}
    >
      <span className="object-name-text">
        <span className="object-name-head">
          {prefix && <span className="object-name-prefix">{prefix}</span>}
          {head}
        </span>
        <span className="object-name-tail">
          <bdi>{tail}</bdi>
        </span>
      </span>
      {copy && <CopyNameButton text={full} />}
    </span>
  );
}

function CopyNameButton({ text }: { text: string }) {
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');
  useEffect(() => {
    if (state === 'idle') return;
    const timer = setTimeout(() => setState('idle'), 1500);
    return () => clearTimeout(timer);
  }, [state]);
  const onClick = async (event: MouseEvent) => {
    // The name usually sits in a clickable row: copying must not open or toggle it.
    event.stopPropagation();
    setState((await copyText(text)) ? 'copied' : 'failed');
  };
  const label = state === 'copied' ? `Copied ${text}` : state === 'failed' ? 'Copy failed' : `Copy ${text}`;
  return (
    <button
      type="button"
      className={`object-name-copy ${state}`}
      onClick={onClick}
      onKeyDown={(event) => event.stopPropagation()}
      aria-label={label}
      title={state === 'idle' ? 'Copy the name' : label}
      data-testid="copy-name"
    >
      <Icon name={state === 'copied' ? 'check' : 'copy'} size={12} />
    </button>
  );
}
