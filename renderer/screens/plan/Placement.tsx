// Where the keys go: a level-1 partition each, or, with "small keys share",
// the keys under a row threshold in one pool of buckets (target.shareBelow).
// The choice is kept with the queued target, so the plan is made again with
// it (and counts the relations both ways) and the migration starts with it.
import { useState } from 'react';
import type { MigrationPlan } from '../../../shared/plan';
import { formatCount, formatNumber } from '../../lib/format';
import { useTargets } from '../../state/targets';

const DEFAULT_THRESHOLD = 1000;

/** A whole number of rows, 1 or more, or the reason it is not. */
function parseThreshold(text: string): { ok: true; value: number } | { ok: false; error: string } {
  const trimmed = text.trim();
  if (!/^\d+$/.test(trimmed) || Number(trimmed) < 1 || !Number.isSafeInteger(Number(trimmed))) {
    return { ok: false, error: 'The threshold must be a whole number of rows, 1 or more.' };
  }
  return { ok: true, value: Number(trimmed) };
}

export function Placement({ plan, connectionId }: { plan: MigrationPlan; connectionId: string }) {
  const add = useTargets((state) => state.add);
  const { target } = plan;
  const sharing = target.shareBelow !== undefined;
  const [text, setText] = useState(String(target.shareBelow ?? DEFAULT_THRESHOLD));
  const parsed = parseThreshold(text);
  const placement = plan.partitions.placement;
  const about = plan.exact ? '' : '~';
  const setShareBelow = (shareBelow: number | undefined): void => {
    const { shareBelow: _previous, ...rest } = target;
    add(connectionId, shareBelow === undefined ? rest : { ...rest, shareBelow });
  };

  return (
    <div className="plan-section" data-testid="plan-placement">
      <h3 className="section-title">Placement</h3>
      <div className="placement-controls">
        <label className="checkbox">
          <input
            type="checkbox"
            checked={sharing}
            disabled={!sharing && !parsed.ok}
            onChange={(event) => setShareBelow(event.target.checked && parsed.ok ? parsed.value : undefined)}
            data-testid="placement-share"
          />
          <span>Small keys share: keys with fewer rows than</span>
        </label>
        <input
          type="text"
          className="num narrow"
          inputMode="numeric"
          aria-label="Rows under which a key shares the pool"
          aria-invalid={parsed.ok ? undefined : true}
          value={text}
          onChange={(event) => setText(event.target.value)}
          onBlur={() => {
            if (sharing && parsed.ok && parsed.value !== target.shareBelow) setShareBelow(parsed.value);
          }}
          onKeyDown={(event) => {
            if (event.key === 'Enter' && sharing && parsed.ok && parsed.value !== target.shareBelow)
              setShareBelow(parsed.value);
          }}
          data-testid="placement-threshold"
        />
        <span>rows go to one pool of buckets instead of a partition each</span>
      </div>
      {!parsed.ok && (
        <span className="field-error" role="alert" data-testid="placement-error">
          {parsed.error}
        </span>
      )}
      {placement ? (
        <dl className="kv" data-testid="placement-counts">
          <dt>Keys in the pool</dt>
          <dd className="num" data-testid="placement-pooled">
            {about}
            {formatCount(placement.pooledKeys, 'key')} ({about}
            {formatCount(placement.pooledRows, 'row')}) in {about}
            {formatCount(placement.poolBuckets, 'bucket')}
          </dd>
          <dt>Relations, small keys sharing</dt>
          <dd className="num" data-testid="placement-relations-shared">
            {about}
            {formatNumber(placement.relationsShared)} ({about}
            {formatCount(placement.levelOne, 'level-1 partition')}, the pool one of them; {about}
            {formatCount(placement.leaves, 'leaf', 'leaves')})
          </dd>
          <dt>Relations, a partition per key</dt>
          <dd className="num" data-testid="placement-relations-per-key">
            {about}
            {formatNumber(placement.relationsPerKey)} ({about}
            {formatCount(plan.partitions.levelOne, 'level-1 partition')}; {about}
            {formatCount(plan.partitions.leaves, 'leaf', 'leaves')})
          </dd>
        </dl>
      ) : (
        <p className="muted" data-testid="placement-per-key">
          Every key gets a level-1 partition of its own. Relations count partitions, their indexes, and each leaf&apos;s
          TOAST table and its index.
        </p>
      )}
    </div>
  );
}
