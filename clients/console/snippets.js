// Part of Laker; no third-party code.
//
// Code that fetches exactly the slice chosen in the download widget:
// Python (the `laker` client), the `laker` CLI, and ADBC Flight SQL.
// Pure functions of a slice:
//   {flightUrl, user, dataset, columns: [..]|null, filter, limit: n|null,
//    orderBy: [{column, desc}], version: n|null, format}

/** A Python (and JSON) string literal. */
function py(s) {
  return JSON.stringify(String(s));
}

/** A POSIX shell word: bare when safe, else single-quoted. */
export function shellQuote(s) {
  const text = String(s);
  if (/^[A-Za-z0-9_./:=,@%+-]+$/.test(text)) return text;
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** A SQL identifier: bare when a plain lower-case name, else double-quoted. */
export function sqlIdent(name) {
  const text = String(name);
  if (/^[a-z_][a-z0-9_]*$/.test(text)) return text;
  return `"${text.replace(/"/g, '""')}"`;
}

/** `demo.trips` → `demo.trips` (each part quoted when needed). */
function sqlTable(dataset) {
  const dot = dataset.indexOf('.');
  if (dot < 0) return sqlIdent(dataset);
  return `${sqlIdent(dataset.slice(0, dot))}.${sqlIdent(dataset.slice(dot + 1))}`;
}

/** The file a slice is saved as: `demo.trips.v3.parquet`. */
export function fileName(slice, ext = slice.format) {
  const pinned = slice.version === null || slice.version === undefined ? '' : `.v${slice.version}`;
  return `${slice.dataset}${pinned}.${ext}`;
}

/** Python: laker.connect + download_to (or download → JSON lines). */
export function pythonSnippet(slice) {
  const args = [];
  if (slice.columns) args.push(`columns=[${slice.columns.map(py).join(', ')}]`);
  if (slice.filter) args.push(`filter=${py(slice.filter)}`);
  if (slice.limit) args.push(`limit=${Number(slice.limit)}`);
  if (slice.orderBy?.length) {
    args.push(`order_by=[${slice.orderBy.map((o) => py(`${o.column}${o.desc ? ' DESC' : ''}`)).join(', ')}]`);
  }
  if (slice.version !== null && slice.version !== undefined) args.push(`version=${Number(slice.version)}`);
  const lines = [
    'import getpass',
    '',
    'import laker',
    '',
    `client = laker.connect(${py(slice.flightUrl)}, user=${py(slice.user)},`,
    '                       password=getpass.getpass("Laker password: "))',
  ];
  if (slice.format === 'jsonl') {
    lines.push(
      `table = client.download(${[py(slice.dataset), ...args].join(', ')})`,
      `table.to_pandas().to_json(${py(fileName(slice))}, orient="records", lines=True)`,
      'print(table.num_rows, "rows")',
    );
  } else {
    const all = [py(fileName(slice)), py(slice.dataset), `format=${py(slice.format)}`, ...args];
    lines.push('rows = client.download_to(', ...all.map((a) => `    ${a},`), ')', 'print(rows, "rows written")');
  }
  return `${lines.join('\n')}\n`;
}

/** The CLI wants http(s):// where Flight clients say grpc(+tls)://. */
function cliUrl(flightUrl) {
  return String(flightUrl).replace(/^grpc\+tls:\/\//, 'https://').replace(/^grpc(\+tcp)?:\/\//, 'http://');
}

/** CLI: `laker login` then `laker get … -o FILE`. */
export function cliSnippet(slice) {
  const ext = { csv: 'csv', parquet: 'parquet', jsonl: 'json', arrow: 'arrow' }[slice.format] || slice.format;
  const words = ['laker', 'get', shellQuote(slice.dataset)];
  if (slice.columns) words.push('-c', shellQuote(slice.columns.join(',')));
  if (slice.filter) words.push('-f', shellQuote(slice.filter));
  if (slice.limit) words.push('-n', String(Number(slice.limit)));
  if (slice.version !== null && slice.version !== undefined) words.push('--version', String(Number(slice.version)));
  words.push('-o', shellQuote(fileName(slice, ext)));
  const lines = [`laker login ${shellQuote(cliUrl(slice.flightUrl))} --as ${shellQuote(slice.user)}`];
  if (slice.orderBy?.length) {
    lines.push('# laker get has no ordering option: the rows come in storage order (use Python for order_by)');
  }
  lines.push(words.join(' '));
  return `${lines.join('\n')}\n`;
}

/** The SELECT statement for a slice (Flight SQL reads the latest version). */
export function sqlStatement(slice) {
  const cols = slice.columns ? slice.columns.map(sqlIdent).join(', ') : '*';
  let sql = `SELECT ${cols} FROM ${sqlTable(slice.dataset)}`;
  if (slice.filter) sql += ` WHERE ${slice.filter}`;
  if (slice.orderBy?.length) {
    sql += ` ORDER BY ${slice.orderBy.map((o) => `${sqlIdent(o.column)}${o.desc ? ' DESC' : ''}`).join(', ')}`;
  }
  if (slice.limit) sql += ` LIMIT ${Number(slice.limit)}`;
  return sql;
}

/** ADBC: adbc_driver_flightsql.dbapi with the SELECT for the slice. */
export function adbcSnippet(slice) {
  const lines = [
    'import getpass',
    '',
    'import adbc_driver_flightsql.dbapi as flight_sql',
    '',
    `with flight_sql.connect(${py(slice.flightUrl)},`,
    `                        db_kwargs={"username": ${py(slice.user)}, "password": getpass.getpass("Laker password: ")},`,
    '                        autocommit=True) as conn:',
    '    cur = conn.cursor()',
    `    cur.execute(${py(sqlStatement(slice))})`,
    '    table = cur.fetch_arrow_table()',
    'print(table.num_rows, "rows")',
  ];
  if (slice.version !== null && slice.version !== undefined) {
    lines.splice(4, 0, `# SQL reads the latest version; this slice was checked at version ${Number(slice.version)}.`);
  }
  return `${lines.join('\n')}\n`;
}
