/**
 * One error class for everything the tool reports to a user. A message never contains a value from
 * the dump (it may be personal data): only positions, table and column names, and rule text.
 */
export type ErrorCode =
  | 'USAGE' // bad command line
  | 'RULES' // bad rules file
  | 'UNCLASSIFIED' // a table or column that no rule classifies, under `unknown: fail`
  | 'NOT_PLAIN_DUMP' // archive, compressed in an unsupported format, NUL bytes
  | 'BAD_INPUT' // malformed dump text
  | 'UNSUPPORTED' // valid dump, but a form we cannot rewrite safely
  | 'LIMIT' // a line or statement larger than the configured limit
  | 'INTERRUPTED' // a signal stopped the run
  | 'STORAGE' // object storage (s3://) refused or failed a request
  | 'OUTSIDE_ROWS'; // a statement outside the rows the policy cannot let through (personal data, an unknown kind)

/** Exit statuses from SPEC.md. */
export const EXIT = { ok: 0, gaps: 1, usage: 2, input: 3 } as const;

export interface Position {
  line?: number;
  table?: string;
  column?: string;
  /** the object a statement outside the rows belongs to (`FUNCTION public.notify()`) */
  object?: string;
  file?: string;
  /** the archive TOC entry whose text or data this is (`TOC entry 3340 (TABLE DATA public t)`); `line` then counts within it */
  entry?: string;
}

export class AnonymiseError extends Error {
  readonly code: ErrorCode;
  readonly position: Position;
  /** what went wrong, without the position (the message is formatted from both, once) */
  readonly detail: string;
  constructor(code: ErrorCode, detail: string, position: Position = {}) {
    super(formatMessage(code, detail, position));
    this.name = 'AnonymiseError';
    this.code = code;
    this.detail = detail;
    this.position = position;
  }

  /** The same error placed at `position`; what it already knew of its place wins. */
  at(position: Position): AnonymiseError {
    const known = Object.fromEntries(Object.entries(this.position).filter(([, v]) => v !== undefined)) as Position;
    return new AnonymiseError(this.code, this.detail, { ...position, ...known });
  }

  /** The same error `lines` further down (a piece of an entry numbers its lines from 1; its place in the entry is known later). */
  below(lines: number): AnonymiseError {
    if (this.position.line === undefined || lines === 0) return this;
    return new AnonymiseError(this.code, this.detail, { ...this.position, line: this.position.line + lines });
  }

  get exitCode(): number {
    return this.code === 'USAGE' || this.code === 'RULES' ? EXIT.usage : EXIT.input;
  }
}

function formatMessage(code: ErrorCode, detail: string, p: Position): string {
  if (code === 'RULES' && p.file) return `${p.file}${p.line ? `:${p.line}` : ''}: ${detail}`;
  if (code === 'USAGE' || code === 'RULES') return detail;
  const where: string[] = [];
  if (p.entry) where.push(p.line !== undefined ? `${p.entry} line ${p.line}` : p.entry);
  else if (p.line !== undefined) where.push(`input line ${p.line}`);
  if (p.table) where.push(`table ${p.table}`);
  if (p.column) where.push(`column ${p.column}`);
  if (p.object) where.push(`object ${p.object}`);
  return where.length ? `${where.join(', ')}: ${detail}` : detail;
}
