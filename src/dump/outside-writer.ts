/**
 * The writer for everything outside the rows: each statement is classified, then written as the policy
 * for what lies outside the rows says (as it is, rewritten, or not at all); the comments before it are
 * examined as free text. It follows pg_dump's `-- Name: …; Type: …` headers, which name the object each
 * statement belongs to (for messages and per-object policy) and the table whose data comes next.
 */
import type { OutsideCount } from '../contract/outside-policy.js';
import type { TextCodec } from '../text/encoding.js';
import { tokenize } from './sql-tokens.js';
import { classify, objectLabel, redactLabel, tocHeader, type TocHeader } from './statements.js';
import { applyOutside, examineComments, pseudonymiseComments, scrubStringsAndComments, stringValue, type OutsideContext } from './outside.js';
import { holdsComment, skipBlank } from './sql-lexer.js';
import { positioned } from './reader.js';
import type { Output } from './output.js';
import type { SchemaGate } from './schema-gate.js';
import type { Findings } from './findings.js';
import type { DumpObserver } from './observer.js';

/** forget: a person's identifiers, scrubbed from statements outside the rows too. */
export interface OutsideIdentifiers {
  /** the offset of a possible identifier in `buf[from..end)`, or -1 */
  find(buf: Buffer, from: number, end: number): number;
  scrub(text: string): { text: string; hits: number };
  /** a bytea literal (`\\x…`, a large object's lowrite): its bytes searched as text, written back as hex */
  scrubBytea?(hex: string): { text: string; hits: number };
  /** a large object's contents in an archive: null when nothing is found */
  scrubBytes?(data: Buffer): { data: Buffer; hits: number } | null;
}

export interface OutsideWriterOptions {
  out: Output;
  gate: SchemaGate;
  findings: Findings;
  /** the codec of the dump's client_encoding (it changes with SET client_encoding) */
  codec(): TextCodec;
  observer?: DumpObserver;
  identifiers?: OutsideIdentifiers;
  /**
   * Whether forget or a subset may change this table's rows (or has not yet said it will not): its
   * statistics then describe rows the output does not have (a forgotten person's e-mail in a histogram).
   */
  overlaid?(table: string): boolean;
}

export class OutsideWriter {
  /** what the policy did (secrets removed, comments scrubbed…) */
  readonly counts: Partial<Record<OutsideCount, number>> = {};
  /** the dump creates roles (pg_dumpall), so pseudonymous role names come with their CREATE ROLE */
  createsRoles = false;
  /** the object named by pg_dump's last `-- Name: …; Type: …` header */
  object: string | null = null;
  /**
   * The table pg_dump's last `-- Data for Name: …` header names: with --load-via-partition-root, a
   * partition's rows arrive as `INSERT INTO root VALUES` in the partition's own column order
   */
  dataFor: string | null = null;
  private scrubbing = false;
  /** the policy's view of the current rules (they change at `\connect` in a pg_dumpall dump) */
  private cached: { rules: unknown; context: OutsideContext } | null = null;

  constructor(private readonly o: OutsideWriterOptions) {}

  /** Archive mode: the TOC entry whose text comes next, named as pg_dump's comment header names it in a plain dump. */
  beginEntry(h: TocHeader): void {
    if (h.type === 'TABLE DATA') this.dataFor = `${h.schema}.${h.name}`;
    else {
      this.object = redactLabel(objectLabel(h));
      this.dataFor = null;
    }
  }

  /** forget: a large object's contents in an archive, with the person's identifiers replaced (null: none there). */
  scrubLargeObject(data: Buffer): Buffer | null {
    const r = this.o.identifiers?.scrubBytes?.(data) ?? null;
    if (!r) return null;
    this.count('identifiersScrubbed', r.hits);
    return r.data;
  }

  /** `\connect`: another database, nothing named yet. */
  reset(): void {
    this.object = null;
    this.dataFor = null;
  }

  private count(k: OutsideCount, n: number): void {
    this.counts[k] = (this.counts[k] ?? 0) + n;
  }

  private context(): OutsideContext {
    const gate = this.o.gate;
    const rules = gate.rules;
    if (this.cached?.rules !== rules) {
      const context: OutsideContext = {
        policy: rules.outside,
        literals: rules.literals,
        unknownFails: rules.unknown !== 'keep',
        exposure: (t) => {
          const table = gate.schema.tables.has(t) || gate.filled.has(t) ? t : gate.schema.indexes.get(t);
          if (!table) return null;
          const e = rules.exposure(table, gate.parentOf);
          const rows = e.rows === 'all' && this.o.overlaid?.(table) ? 'some' : e.rows;
          return table === t ? { rows, allKept: e.allKept, kept: (c) => e.kept(c) } : { rows, allKept: e.allKept, kept: () => e.allKept };
        },
        overlay: this.o.overlaid !== undefined,
        scrub: (text) => rules.scrubOutside(text),
        rolePseudonym: (name) => rules.rolePseudonym(name),
      };
      this.cached = { rules, context };
    }
    return this.cached.context;
  }

  /**
   * The comments before a statement, `buf[start..code)`: pg_dump's header names the object that
   * follows (`header`: a statement outside the rows); role names in them are pseudonymised when the
   * policy says so; and, being free text, they are examined as comments are. Returns their text as it
   * is to be written, and whether that differs from the input; null when there are no comments.
   */
  private comments(buf: Buffer, start: number, code: number, line: number, header: boolean): { text: string; changed: boolean } | null {
    if (!holdsComment(buf, start, code)) return null;
    const collect = this.o.findings.collect;
    const rules = this.o.gate.rules;
    const original = this.o.codec().decode(buf.subarray(start, code));
    let text = original;
    if (rules.outside.roles === 'pseudonymise' && !collect) text = pseudonymiseComments(text, (n) => rules.rolePseudonym(n));
    // forget: a person's identifier in the comments before a data statement (an owner named after them);
    // a statement's own comments were scrubbed with it (outside)
    const ids = this.o.identifiers;
    if (ids && !collect && ids.find(buf, start, code) !== -1) {
      const scrubbed = ids.scrub(text);
      if (scrubbed.hits > 0) {
        this.count('identifiersScrubbed', scrubbed.hits);
        text = scrubbed.text;
      }
    }
    const h = tocHeader(text);
    if (h && header) {
      this.object = redactLabel(objectLabel(h));
      this.dataFor = null;
    } else if (h) this.dataFor = h.type === 'TABLE DATA' ? `${h.schema}.${h.name}` : null;
    const seen = examineComments(text, this.context(), this.object ?? 'comments');
    if (seen.found.length && !collect) {
      this.count('commentsScrubbed', seen.text !== text ? 1 : 0);
      text = seen.text;
    }
    if (!header && this.o.observer?.statement)
      this.o.observer.statement({ kind: 'comment', object: this.object ?? 'comments', database: this.o.gate.database, line, strings: [text], secrets: 0 });
    return { text, changed: text !== original };
  }

  /** Writes the comments before a data statement if they were rewritten; returns where the rest begins. */
  dataComments(buf: Buffer, start: number, code: number, line: number): number {
    const c = this.comments(buf, start, code, line, false);
    if (!c?.changed) return start;
    const bytes = this.o.codec().encode(c.text);
    this.o.out.bytes(bytes, 0, bytes.length, false);
    return code;
  }

  /**
   * A statement outside the rows: classified, then written as the policy says (as it is, rewritten,
   * or not at all); `buf[start..code)` is the blank text and comments before it, which stay.
   */
  statement(buf: Buffer, start: number, code: number, end: number, stable: boolean, line: number): void {
    const out = this.o.out;
    if (code >= end) {
      out.bytes(buf, start, end, stable);
      return;
    }
    const collect = this.o.findings.collect;
    const codec = this.o.codec();
    const ids = this.o.identifiers;
    if (ids && !collect && !this.scrubbing && ids.find(buf, start, end) !== -1) {
      let hits = 0;
      let text: string | null = null;
      try {
        text = scrubStringsAndComments(codec.decode(buf.subarray(start, end)), (s) => {
          // a bytea constant (a large object's lowrite) holds the identifier as hex
          const r = ids.scrubBytea && /^\\x(?:[0-9a-fA-F]{2})+$/.test(s) ? ids.scrubBytea(s) : ids.scrub(s);
          hits += r.hits;
          return r.text;
        });
      } catch {
        // a statement that cannot be read: the path below stops the run at it, with its position
      }
      if (text !== null && hits > 0) {
        this.count('identifiersScrubbed', hits);
        const bytes = codec.encode(text);
        this.scrubbing = true;
        try {
          return this.statement(bytes, 0, skipBlank(bytes, 0, bytes.length), bytes.length, false, line);
        } finally {
          this.scrubbing = false;
        }
      }
    }
    // the comments before the statement
    const comments = this.comments(buf, start, code, line, true);
    const prefix = comments?.changed ? comments.text : null;
    const sql = codec.decode(buf.subarray(code, end));
    let toks;
    try {
      toks = tokenize(sql);
    } catch (e) {
      throw positioned(e, line, undefined);
    }
    const cls = classify(toks);
    if (cls.kind === 'role' && cls.verb.startsWith('CREATE')) this.createsRoles = true;
    const object = this.object ?? (cls.verb || undefined);
    const res = applyOutside(sql, cls, object ?? '', this.context());
    for (const [k, n] of Object.entries(res.counts)) this.count(k as OutsideCount, n);
    if (res.stop) this.o.findings.outsideRows(res.stop, line, object);
    let written = sql;
    const writePrefix = () => {
      if (prefix === null) out.bytes(buf, start, code, stable);
      else {
        const bytes = codec.encode(prefix);
        out.bytes(bytes, 0, bytes.length, false);
      }
    };
    if (res.action === 'drop' && !collect) {
      writePrefix();
      written = '';
    } else if (res.action === 'rewrite' && res.text !== undefined && !collect) {
      writePrefix();
      const bytes = codec.encode(res.text);
      out.bytes(bytes, 0, bytes.length, false);
      written = res.text;
    } else if (prefix !== null) {
      writePrefix();
      out.bytes(buf, code, end, false);
    } else {
      out.bytes(buf, start, end, stable);
    }
    const observer = this.o.observer;
    if (observer?.statement) {
      const strings: string[] = [];
      // pg_dump's comments name objects and owners: they are read too
      if (comments) strings.push(comments.text);
      for (const t of written === sql ? toks : tokenize(written)) {
        if (t.t === 'str') strings.push(stringValue(written, t));
        else if (t.t === 'id' && t.quoted) strings.push(t.v);
      }
      observer.statement({ kind: cls.kind, object: object ?? 'statement', database: this.o.gate.database, line, strings, secrets: res.counts.secretsRemoved ?? 0 });
    }
  }
}

