// A search or filter field with its magnifier icon, as the toolbars use it.
import { Icon } from './Icon';

export function SearchBox({
  value,
  onChange,
  placeholder,
  label,
  testId,
}: {
  value: string;
  onChange(value: string): void;
  placeholder: string;
  /** For screen readers: what is searched. */
  label: string;
  testId: string;
}) {
  return (
    <label className="search-box">
      <Icon name="search" />
      <input
        type="search"
        placeholder={placeholder}
        value={value}
        onChange={(event) => onChange(event.target.value)}
        aria-label={label}
        data-testid={testId}
      />
    </label>
  );
}
