/**
 * An incremental Server-Sent Events reader: bytes in as they pass, events out, nothing
 * buffered beyond the event being read (bounded: an event longer than `maxEventBytes` is
 * skipped and reported, the stream itself still passes untouched).
 */

export interface SseEvent {
  event?: string;
  data: string;
}

const DEFAULT_MAX_EVENT = 4 * 1024 * 1024;

export class SseReader {
  private readonly decoder = new TextDecoder('utf-8');
  private line = '';
  private data: string[] = [];
  private dataChars = 0;
  private event: string | undefined;
  private skipping = false;
  /** Events dropped for being larger than the bound. */
  oversized = 0;

  constructor(private readonly maxEventBytes = DEFAULT_MAX_EVENT) {}

  /** Feed bytes; returns the events completed by them. */
  push(chunk: Uint8Array): SseEvent[] {
    return this.text(this.decoder.decode(chunk, { stream: true }));
  }

  /** End of stream: the last event if the stream ended without its blank line. */
  end(): SseEvent[] {
    this.partial = this.pending || this.line.length > 0;
    const out = this.text(this.decoder.decode() + '\n\n');
    return out;
  }

  /** Whether the stream ended inside an event (cut off). */
  partial = false;

  /** Whether bytes of an unfinished event are pending. */
  get pending(): boolean {
    return this.line.length > 0 || this.data.length > 0;
  }

  /** Feed already decoded text; returns the events completed by it. */
  pushText(text: string): SseEvent[] {
    return this.text(text);
  }

  private text(text: string): SseEvent[] {
    const out: SseEvent[] = [];
    if (this.cr) {
      // a \r ended the last piece: a \n starting this one belongs to it
      this.cr = false;
      if (text.charCodeAt(0) === 10) text = text.slice(1);
    }
    if (text.indexOf('\r') >= 0) {
      if (text.charCodeAt(text.length - 1) === 13) this.cr = true;
      text = text.replace(/\r\n?/g, '\n');
    }
    let start = 0;
    let nl = text.indexOf('\n');
    while (nl >= 0) {
      const line = this.line ? this.line + text.slice(start, nl) : text.slice(start, nl);
      this.line = '';
      this.onLine(line, out);
      start = nl + 1;
      nl = text.indexOf('\n', start);
    }
    const rest = text.slice(start);
    if (rest) {
      if (this.line.length + rest.length > this.maxEventBytes) {
        this.skipping = true;
        this.line = '';
      } else {
        this.line += rest;
      }
    }
    return out;
  }

  private cr = false;

  private onLine(line: string, out: SseEvent[]): void {
    if (line === '') {
      if (this.skipping) {
        this.oversized++;
      } else if (this.data.length > 0) {
        out.push({ event: this.event, data: this.data.join('\n') });
      }
      this.data = [];
      this.dataChars = 0;
      this.event = undefined;
      this.skipping = false;
      return;
    }
    if (this.skipping || line.charCodeAt(0) === 58 /* : comment */) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    if (field === 'data') {
      this.dataChars += value.length;
      if (this.dataChars > this.maxEventBytes) {
        this.skipping = true;
        this.data = [];
        return;
      }
      this.data.push(value);
    } else if (field === 'event') {
      this.event = value;
    }
  }
}
