/**
 * Reads a process's stdout or stderr into lines (line-splitter.ts), pausing the pipe while the
 * log writer is behind (the output gate) and for the rest of a loop turn once output has had its
 * share of it (output-turns.ts). A paused pipe keeps what it holds; the process waits in write().
 * At a hand-over what the stream holds is handed on all the same (OutputReader.detach).
 */
import type { Readable } from 'node:stream';
import { LineSplitter, type LineRun } from './line-splitter';
import { outputTurns, type OutputTurns } from './output-turns';

/** Which pipe a line came from. */
export type OutputStream = 'stdout' | 'stderr';

/** See OutputOptions.outputGate (the log store's side: agent/logs/instance-log.ts). */
export interface OutputGate {
  blocked(): boolean;
  whenOpen(resume: () => void): void;
}

/** Where a process's lines go and how its pipes are read. */
export interface OutputOptions {
  /** Called for every line of output; must not throw. `cut` marks a piece of an over-long line. */
  onLine(stream: OutputStream, line: string, cut: boolean): void;
  /** When given, whole lines of UTF-8 chunks come here as bytes instead (line-splitter.ts); must not throw. */
  onLines?(stream: OutputStream, run: LineRun): void;
  /** Longest line held in memory; longer lines come in pieces. Default 16 KiB. */
  maxLineBytes?: number;
  /**
   * Asked after each read of stdout or stderr: while it is blocked, reading stops, so the process
   * waits in write() once the pipe is full (as on a slow terminal) and no line is dropped.
   */
  outputGate?: OutputGate;
  /** The share of each loop turn that reading output may take (output-turns.ts); default: the agent's. */
  outputTurns?: OutputTurns;
}

/** How a process's reading of one pipe ends. */
export interface OutputReader {
  /** The pipe ended (the process is gone): a last line without newline comes out whole. */
  end(): void;
  /**
   * A hand-over (the pipe is destroyed next, its FIFO read by the next agent run): hands on what
   * the stream has read from the pipe and holds, paused or not — at most one stream buffer, the
   * gate notwithstanding, else it would be lost — and a partial line as a cut piece; its rest
   * is still in the FIFO, the next run's first line.
   */
  detach(): void;
}

/** Reads `pipe` (the process's `stream`) until it ends or detach() is called. */
export function readOutput(pipe: Readable, stream: OutputStream, opts: OutputOptions, onClose: () => void): OutputReader {
  const onLines = opts.onLines ? (run: LineRun) => opts.onLines?.(stream, run) : undefined;
  const splitter = new LineSplitter((line, cut) => opts.onLine(stream, line, cut), opts.maxLineBytes, onLines);
  const gate = opts.outputGate;
  const turns = opts.outputTurns ?? outputTurns;
  // Paused by the gate (the log writer is behind) or for the rest of this turn.
  let gateHeld = false;
  let turnHeld = false;
  const resumeIfFree = () => {
    if (!gateHeld && !turnHeld && !pipe.destroyed) pipe.resume();
  };
  const gateOpen = () => {
    gateHeld = false;
    resumeIfFree();
  };
  const nextTurn = () => {
    turnHeld = false;
    resumeIfFree();
  };
  let detaching = false;
  pipe.on('data', (chunk: Buffer) => {
    if (detaching) {
      splitter.push(chunk);
      return;
    }
    turns.beginRead();
    splitter.push(chunk);
    if (gate !== undefined && !gateHeld && gate.blocked()) {
      // The log writer is behind: leave the rest in the pipe until it catches up.
      gateHeld = true;
      pipe.pause();
      gate.whenOpen(gateOpen);
    }
    if (!turnHeld && turns.endRead(nextTurn)) {
      turnHeld = true;
      pipe.pause();
    }
  });
  pipe.on('end', () => splitter.end());
  // A read error ends the stream; 'close' follows and the exit is still reported.
  pipe.on('error', () => undefined);
  pipe.once('close', onClose);
  return {
    end: () => splitter.end(),
    detach: () => {
      detaching = true;
      // read() hands over what the stream holds through 'data', paused or not; null once empty.
      // (It may ask for more, but the pipe is destroyed in this turn, before any more is read.)
      let chunk: unknown;
      do chunk = pipe.destroyed ? null : pipe.read();
      while (chunk !== null);
      splitter.cutOff();
    },
  };
}
