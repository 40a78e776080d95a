/**
 * The statement scanner for SQL text outside COPY data. It finds where each statement (or psql
 * meta-command line) ends without ever being fooled by data: quotes, E'' strings, dollar quotes,
 * quoted identifiers and comments are tracked, and the scan resumes across chunk boundaries.
 * (String constants: https://www.postgresql.org/docs/current/sql-syntax-lexical.html)
 */

import { BACKSLASH, DASH, DOLLAR, DQUOTE, LF, LPAREN, RPAREN, SEMI, SLASH, SQUOTE, STAR } from '../text/bytes.js';

export const enum Lex {
  Code,
  String, // '…' with standard_conforming_strings on: '' is the only escape
  EString, // E'…', or '…' with standard_conforming_strings off: backslash escapes too
  Ident, // "…"
  Dollar, // $tag$…$tag$
  LineComment,
  BlockComment,
}

/** Bytes that may appear inside an unquoted identifier (so a `$` or `E` after one is not special). */
const IDENT = new Uint8Array(256);
for (let b = 0; b < 256; b++) {
  IDENT[b] = +((b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b === 0x5f || b === DOLLAR || b >= 0x80);
}
/** Bytes that start psql's `{identifier}` (not a digit, not `$`). */
const WORD_START = new Uint8Array(256);
for (let b = 0; b < 256; b++) WORD_START[b] = +(IDENT[b] === 1 && !(b >= 0x30 && b <= 0x39) && b !== DOLLAR);
/** Bytes the Code state must stop at. */
const SPECIAL = new Uint8Array(256);
for (const b of [LF, SQUOTE, DQUOTE, DOLLAR, DASH, SLASH, SEMI, BACKSLASH, LPAREN, RPAREN]) SPECIAL[b] = 1;
const WHITESPACE = new Uint8Array(256);
for (const b of [0x20, 0x09, 0x0a, 0x0d, 0x0c, 0x0b]) WHITESPACE[b] = 1;

/**
 * Where psql ends a statement, which is where a restore will: at a `;` outside parentheses and, in
 * `CREATE [OR REPLACE] FUNCTION|PROCEDURE`, outside `BEGIN … END` (SQL-standard bodies, `BEGIN ATOMIC`,
 * whose inner statements end with `;` too). psql's lexer (psqlscan.l) counts the statement's unquoted
 * words for that; so do we, but only in statements that start with CREATE, off the data path.
 */
const enum Words {
  Undecided, // no code byte of the unit seen yet
  Off, // not a CREATE statement: words need not be read
  Track, // a CREATE statement: every word is read
}
const CREATE = Buffer.from('create', 'latin1');

/** psql stores the first letter of these words among a statement's first four. */
const NOTED = new Set(['create', 'function', 'procedure', 'or', 'replace']);

export const enum UnitKind {
  Statement, // ends with `;`
  Meta, // a psql meta-command line (`\connect db`, `\restrict key`), newline included
}

/**
 * Scans one unit at a time. `scan` is called with the unit's bytes so far (from `unit` to `end`);
 * it returns the end offset of the unit, or -1 when more bytes are needed — then the next call must
 * pass the same unit start with more bytes after it, and scanning resumes where it stopped.
 */
export class StatementScanner {
  standardConformingStrings = true;
  kind: UnitKind = UnitKind.Statement;
  private state: Lex = Lex.Code;
  private resume = 0; // offset from the unit start where the next scan begins
  private depth = 0; // block comment nesting
  private tag: Buffer | null = null; // dollar-quote tag, `$` to `$` inclusive
  private blank = true; // only whitespace and comments so far in this unit
  private lineStart = true; // the previous byte was a newline (or the unit just began after one)
  private parens = 0; // parenthesis depth in code
  private words = Words.Undecided;
  private wordCount = 0;
  private readonly firstLetters = new Uint8Array(4);
  private beginDepth = 0; // BEGIN … END nesting in a function body

  /** Resets for a unit starting at a fresh line (true after `;\n` and meta lines). */
  begin(atLineStart: boolean): void {
    this.state = Lex.Code;
    this.resume = 0;
    this.depth = 0;
    this.tag = null;
    this.blank = true;
    this.lineStart = atLineStart;
    this.kind = UnitKind.Statement;
    this.parens = 0;
    this.words = Words.Undecided;
    this.wordCount = 0;
    this.firstLetters.fill(0);
    this.beginDepth = 0;
  }

  /** True when the bytes seen so far are only whitespace and comments. */
  get onlyBlank(): boolean {
    return this.blank;
  }

  scan(buf: Buffer, unit: number, end: number): number {
    let i = unit + this.resume;
    for (;;) {
      switch (this.state) {
        case Lex.Code: {
          while (i < end) {
            const b = buf[i]!;
            if (SPECIAL[b] === 0) {
              // past the first word of a statement that is no CREATE, an ordinary byte changes nothing:
              // a run of them is skipped at once (most of an INSERT's VALUES outside its strings)
              if (this.words === Words.Off && !this.blank) {
                i++;
                while (i < end && SPECIAL[buf[i]!] === 0) i++;
                continue;
              }
              if (WHITESPACE[b] === 0) {
                if (this.words !== Words.Off && WORD_START[b] === 1 && (i === unit || IDENT[buf[i - 1]!] === 0)) {
                  const next = this.word(buf, i, end);
                  if (next === -1) return this.need(unit, i);
                  this.blank = this.lineStart = false;
                  i = next;
                  continue;
                }
                if (this.words === Words.Undecided) this.words = Words.Off;
                this.blank = false;
                this.lineStart = false;
              }
              i++;
              continue;
            }
            if (b === LF) {
              this.lineStart = true;
              i++;
              continue;
            }
            if (b === BACKSLASH && this.blank && this.lineStart) {
              // psql meta-command: the rest of the line
              const nl = buf.indexOf(LF, i);
              if (nl === -1 || nl >= end) return this.need(unit, i);
              this.kind = UnitKind.Meta;
              return nl + 1;
            }
            if (b === SEMI) {
              if (this.parens === 0 && this.beginDepth === 0) return i + 1;
              i++;
              continue;
            }
            if (b === LPAREN || b === RPAREN) {
              if (b === LPAREN) this.parens++;
              else if (this.parens > 0) this.parens--;
              if (this.words === Words.Undecided) this.words = Words.Off;
              this.blank = this.lineStart = false;
              i++;
              continue;
            }
            if (b === SQUOTE) {
              const prev = i > unit ? buf[i - 1]! : 0x20;
              const prev2 = i - 1 > unit ? buf[i - 2]! : 0x20;
              const escape = ((prev === 0x45 || prev === 0x65) && IDENT[prev2] === 0) || !this.standardConformingStrings;
              this.state = escape ? Lex.EString : Lex.String;
              this.blank = this.lineStart = false;
              i++;
              break;
            }
            if (b === DQUOTE) {
              this.state = Lex.Ident;
              this.blank = this.lineStart = false;
              i++;
              break;
            }
            if (b === DASH || b === SLASH) {
              if (i + 1 >= end) return this.need(unit, i);
              const c = buf[i + 1]!;
              if (b === DASH && c === DASH) {
                this.state = Lex.LineComment;
                i += 2;
                break;
              }
              if (b === SLASH && c === STAR) {
                this.state = Lex.BlockComment;
                this.depth = 1;
                i += 2;
                break;
              }
              this.blank = this.lineStart = false;
              i++;
              continue;
            }
            if (b === DOLLAR) {
              this.blank = this.lineStart = false;
              if (i > unit && IDENT[buf[i - 1]!] === 1) {
                i++; // part of an identifier such as a$b
                continue;
              }
              // $tag$ where tag is an identifier not starting with a digit, or empty ($$); $1 is a parameter
              let j = i + 1;
              while (j < end && IDENT[buf[j]!] === 1 && buf[j] !== DOLLAR) j++;
              if (j >= end) return this.need(unit, i);
              const first = buf[i + 1]!;
              if (buf[j] === DOLLAR && !(j > i + 1 && first >= 0x30 && first <= 0x39)) {
                this.tag = Buffer.from(buf.subarray(i, j + 1));
                this.state = Lex.Dollar;
                i = j + 1;
                break;
              }
              i++;
              continue;
            }
            // a backslash that is not a meta-command
            this.blank = this.lineStart = false;
            i++;
          }
          if (this.state === Lex.Code && i >= end) return this.need(unit, end);
          break;
        }
        case Lex.String:
        case Lex.Ident: {
          const q = this.state === Lex.String ? SQUOTE : DQUOTE;
          const close = buf.indexOf(q, i);
          if (close === -1 || close >= end) return this.need(unit, end);
          if (close + 1 >= end) return this.need(unit, close); // '' or end? need the next byte
          if (buf[close + 1] === q) {
            i = close + 2;
            continue;
          }
          this.state = Lex.Code;
          i = close + 1;
          break;
        }
        case Lex.EString: {
          let j = i;
          for (;;) {
            if (j >= end) return this.need(unit, j);
            const b = buf[j]!;
            if (b === BACKSLASH) {
              if (j + 1 >= end) return this.need(unit, j);
              j += 2;
              continue;
            }
            if (b === SQUOTE) {
              if (j + 1 >= end) return this.need(unit, j);
              if (buf[j + 1] === SQUOTE) {
                j += 2;
                continue;
              }
              break;
            }
            j++;
          }
          this.state = Lex.Code;
          i = j + 1;
          break;
        }
        case Lex.Dollar: {
          const close = buf.indexOf(this.tag!, i);
          if (close === -1 || close + this.tag!.length > end) {
            // resume far enough back to catch a tag split across chunks
            return this.need(unit, Math.max(i, end - this.tag!.length + 1));
          }
          this.state = Lex.Code;
          i = close + this.tag!.length;
          this.tag = null;
          break;
        }
        case Lex.LineComment: {
          const nl = buf.indexOf(LF, i);
          if (nl === -1 || nl >= end) return this.need(unit, end);
          this.state = Lex.Code;
          this.lineStart = true;
          i = nl + 1;
          break;
        }
        case Lex.BlockComment: {
          while (i < end) {
            const b = buf[i]!;
            if ((b === STAR || b === SLASH) && i + 1 >= end) return this.need(unit, i);
            if (b === STAR && buf[i + 1] === SLASH) {
              i += 2;
              if (--this.depth === 0) break;
              continue;
            }
            if (b === SLASH && buf[i + 1] === STAR) {
              this.depth++;
              i += 2;
              continue;
            }
            i++;
          }
          if (this.depth > 0) return this.need(unit, end);
          this.state = Lex.Code;
          break;
        }
      }
    }
  }

  /**
   * Reads the unquoted word starting at `i` (psql's `{identifier}`) and keeps psql's count; returns
   * the offset after it, or -1 when the word may go on past `end`.
   */
  private word(buf: Buffer, i: number, end: number): number {
    let j = i + 1;
    while (j < end && IDENT[buf[j]!] === 1) j++;
    if (j >= end) return -1;
    if (this.words === Words.Undecided) {
      this.words = j - i === CREATE.length && sameWordCI(buf, i, CREATE) ? Words.Track : Words.Off;
      if (this.words === Words.Off) return j;
    }
    const n = j - i;
    if (n <= 9) {
      const w = buf.toString('latin1', i, j).toLowerCase();
      if (this.wordCount < 4 && NOTED.has(w)) this.firstLetters[this.wordCount] = w.charCodeAt(0);
      const f = this.firstLetters;
      const creatingRoutine =
        f[0] === 0x63 && (f[1] === 0x66 || f[1] === 0x70 || (f[1] === 0x6f && f[2] === 0x72 && (f[3] === 0x66 || f[3] === 0x70)));
      this.wordCount++;
      if (creatingRoutine && this.parens === 0) {
        if (w === 'begin') this.beginDepth++;
        else if (w === 'case') {
          // CASE also ends with END; it matters only inside a BEGIN
          if (this.beginDepth >= 1) this.beginDepth++;
        } else if (w === 'end' && this.beginDepth > 0) this.beginDepth--;
      }
    } else this.wordCount++;
    return j;
  }

  private need(unit: number, at: number): number {
    this.resume = at - unit;
    return -1;
  }
}

function sameWordCI(buf: Buffer, at: number, lower: Buffer): boolean {
  for (let k = 0; k < lower.length; k++) if ((buf[at + k]! | 0x20) !== lower[k]) return false;
  return true;
}

/** Skips whitespace and comments from `i`; returns the offset of the first byte of code. */
export function skipBlank(buf: Buffer, i: number, end: number): number {
  for (;;) {
    while (i < end && WHITESPACE[buf[i]!] === 1) i++;
    if (i + 1 < end && buf[i] === DASH && buf[i + 1] === DASH) {
      const nl = buf.indexOf(LF, i);
      i = nl === -1 || nl >= end ? end : nl + 1;
      continue;
    }
    if (i + 1 < end && buf[i] === SLASH && buf[i + 1] === STAR) {
      let depth = 1;
      i += 2;
      while (i < end && depth > 0) {
        if (i + 1 < end && buf[i] === STAR && buf[i + 1] === SLASH) { depth--; i += 2; }
        else if (i + 1 < end && buf[i] === SLASH && buf[i + 1] === STAR) { depth++; i += 2; }
        else i++;
      }
      continue;
    }
    return i;
  }
}

/**
 * Whether the blank text before a statement, `buf[start..code)` (what skipBlank passed over), holds a
 * comment: anything but white space. Usually one newline, so a loop, not a search.
 */
export function holdsComment(buf: Buffer, start: number, code: number): boolean {
  for (let i = start; i < code; i++) if (WHITESPACE[buf[i]!] === 0) return true;
  return false;
}
