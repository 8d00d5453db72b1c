// Parsing of table names as people type them: `orders`, `public.orders`,
// `"My Schema"."My Table"`. Pure functions, shared by the CLI and the renderer.

export interface TableName {
  schema: string;
  name: string;
}

/** Splits a possibly quoted, possibly schema-qualified name. Unquoted parts fold to lower case, as in SQL. */
export function parseTableName(input: string, defaultSchema = 'public'): TableName {
  const parts: string[] = [];
  let i = 0;
  const text = input.trim();
  if (text === '') throw new Error('table name is empty');
  while (i < text.length) {
    if (text[i] === '"') {
      let part = '';
      i++;
      for (;;) {
        if (i >= text.length) throw new Error(`unterminated quoted identifier in ${input}`);
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            part += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        part += text[i];
        i++;
      }
      if (part === '') throw new Error(`empty quoted identifier in ${input}`);
      parts.push(part);
    } else {
      let part = '';
      while (i < text.length && text[i] !== '.') {
        if (text[i] === '"') throw new Error(`unexpected quote in ${input}`);
        part += text[i];
        i++;
      }
      part = part.trim();
      if (!/^[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*$/.test(part)) {
        throw new Error(`"${part}" is not a valid unquoted identifier; quote it: "${part.replace(/"/g, '""')}"`);
      }
      parts.push(part.toLowerCase());
    }
    if (i < text.length) {
      if (text[i] !== '.') throw new Error(`unexpected character after identifier in ${input}`);
      i++;
      if (i >= text.length) throw new Error(`name ends with a dot: ${input}`);
    }
  }
  if (parts.length === 1) return { schema: defaultSchema, name: parts[0]! };
  if (parts.length === 2) return { schema: parts[0]!, name: parts[1]! };
  throw new Error(`too many dots in table name ${input}; expected schema.table`);
}

/** Quotes an identifier the way PostgreSQL would print it when needed. For display only. */
export function displayIdentifier(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

export function displayTableName(table: TableName): string {
  return `${displayIdentifier(table.schema)}.${displayIdentifier(table.name)}`;
}
