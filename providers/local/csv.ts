/**
 * An RFC 4180 CSV parser: comma-separated fields, fields optionally wrapped in double quotes, quotes
 * inside quoted fields doubled (""), and commas and line breaks (CRLF or LF) allowed inside quotes.
 * A byte-order mark is ignored. Malformed quoting is an error, not a silent guess.
 */

export class CsvParseError extends Error {
  override readonly name = 'CsvParseError';
}

/** Parses CSV text into rows of fields. A trailing line break does not make an empty last row. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let position = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;
  let fieldStarted = false;

  const endField = (): void => {
    row.push(field);
    field = '';
    fieldStarted = false;
  };
  const endRow = (): void => {
    endField();
    rows.push(row);
    row = [];
  };

  while (position < text.length) {
    const char = text[position] as string;
    if (char === '"' && !fieldStarted && field === '') {
      const quoteLine = line;
      position++;
      for (;;) {
        if (position >= text.length) throw new CsvParseError(`unterminated quoted field starting on line ${quoteLine}`);
        const quoted = text[position] as string;
        if (quoted === '"') {
          if (text[position + 1] === '"') {
            field += '"';
            position += 2;
            continue;
          }
          position++;
          break;
        }
        if (quoted === '\n') line++;
        field += quoted;
        position++;
      }
      fieldStarted = true;
      const after = text[position];
      if (after !== undefined && after !== ',' && after !== '\n' && after !== '\r') {
        throw new CsvParseError(`unexpected character ${JSON.stringify(after)} after a closing quote on line ${line}`);
      }
      continue;
    }
    if (char === ',') {
      endField();
      position++;
    } else if (char === '\r' || char === '\n') {
      endRow();
      position += char === '\r' && text[position + 1] === '\n' ? 2 : 1;
      line++;
    } else {
      if (char === '"') throw new CsvParseError(`stray double quote inside an unquoted field on line ${line}`);
      field += char;
      fieldStarted = true;
      position++;
    }
  }
  if (field !== '' || fieldStarted || row.length > 0) endRow();
  return rows;
}

/** Parses CSV with a header row into records keyed by column name. */
export function parseCsvRecords(text: string): { columns: string[]; records: Record<string, string>[] } {
  const [header, ...rows] = parseCsv(text);
  if (!header) return { columns: [], records: [] };
  const columns = header.map((name) => name.trim());
  const records = rows
    .filter((row) => !(row.length === 1 && row[0] === ''))
    .map((row, index) => {
      if (row.length !== columns.length) {
        throw new CsvParseError(`record ${index + 1} (after the header) has ${row.length} fields, the header has ${columns.length}`);
      }
      return Object.fromEntries(columns.map((column, i) => [column, row[i] as string]));
    });
  return { columns, records };
}

/** Quotes a field when it needs it, for writing CSV. */
export function formatCsvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}
