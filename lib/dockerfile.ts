/**
 * What a Dockerfile tells about how its image starts, as Docker reads it: ENTRYPOINT and CMD
 * (exec and shell forms), WORKDIR, SHELL, and where `COPY . DEST` puts the build context (the
 * deployed directory). Stages are followed (`FROM base` inherits base's settings); the image is the
 * last stage or the named target. Parsing is dockerfile-ast's (continuation lines, the escape
 * directive, flags); see docs/compose.md.
 */
import * as path from 'node:path';
import { DockerfileParser, ModifiableInstruction, type Instruction } from 'dockerfile-ast';

/** How a command is written: exec form (a JSON list, run as that argv) or shell form (run by the SHELL). */
export type DockerCommand = { argv: string[]; line: number } | { shell: string; line: number };

/** The start settings of one image, with 1-based line numbers. */
export interface DockerImage {
  entrypoint?: DockerCommand;
  cmd?: DockerCommand;
  /** Absolute, as WORKDIR made it ('/' when never set). */
  workdir: string;
  /** Where the build context is copied to (`COPY . /app`), absolute; undefined when no such line. */
  contextDir?: { dir: string; line: number };
  /** The SHELL that runs shell-form commands (Docker's default: /bin/sh -c). */
  shell: string[];
  /** 1-based line of the FROM that starts the image's stage. */
  fromLine: number;
  fromText: string;
}

/** A Dockerfile Docker could not build, or one whose start cannot be known; `line` is 1-based. */
export class DockerfileError extends Error {
  override name = 'DockerfileError';
  constructor(
    message: string,
    readonly line?: number,
  ) {
    super(message);
  }
}

/** What runs a shell-form command when the Dockerfile sets no SHELL. */
export const DEFAULT_SHELL: readonly string[] = ['/bin/sh', '-c'];

/** Reads `text` (named `fileName` in messages) for the image of stage `target` (default: the last). */
export function readDockerfile(text: string, fileName: string, target?: string): DockerImage {
  const dockerfile = DockerfileParser.parse(text.replace(/^\uFEFF/, ''));
  const instructions = dockerfile.getInstructions();
  // Stages: each FROM and the instructions up to the next.
  const stages: Array<{ from: Instruction; name?: string; body: Instruction[] }> = [];
  for (const instruction of instructions) {
    const keyword = instruction.getKeyword();
    if (keyword === 'FROM') {
      const args = instruction.getArguments().map((arg) => arg.getValue());
      const name = args.length >= 3 && args[args.length - 2]!.toUpperCase() === 'AS' ? args[args.length - 1]!.toLowerCase() : undefined;
      stages.push({ from: instruction, name, body: [] });
    } else if (stages.length > 0) {
      stages[stages.length - 1]!.body.push(instruction);
    }
  }
  if (stages.length === 0) throw new DockerfileError(`${fileName} has no FROM: it is not a Dockerfile Docker can build`);
  let index = stages.length - 1;
  if (target !== undefined) {
    index = stages.findIndex((stage) => stage.name === target.toLowerCase());
    if (index < 0) throw new DockerfileError(`${fileName} has no stage \`${target}\` (the build target): name one with \`FROM … AS ${target}\``);
  }
  const imageAt = (i: number): DockerImage => {
    const stage = stages[i]!;
    const fromLine = lineOf(stage.from);
    const base = stage.from.getArguments()[0]?.getValue().toLowerCase();
    // `FROM earlier-stage` inherits that stage's settings; an outside image's are unknown here.
    let parent = i - 1;
    while (parent >= 0 && (stages[parent]!.name === undefined || stages[parent]!.name !== base)) parent--;
    const image: DockerImage =
      parent >= 0
        ? { ...imageAt(parent), fromLine, fromText: stage.from.toString().trim() }
        : { workdir: '/', shell: [...DEFAULT_SHELL], fromLine, fromText: stage.from.toString().trim() };
    const own = { cmd: false };
    for (const instruction of stage.body) applyInstruction(dockerfile, fileName, instruction, image, own);
    return image;
  };
  return imageAt(index);
}

/** Applies one instruction; `own.cmd` says whether the stage has set CMD itself (vs. inherited it). */
function applyInstruction(
  dockerfile: ReturnType<typeof DockerfileParser.parse>,
  fileName: string,
  instruction: Instruction,
  image: DockerImage,
  own: { cmd: boolean },
): void {
  const line = lineOf(instruction);
  const where = `${fileName} line ${line}`;
  switch (instruction.getKeyword()) {
    case 'CMD':
      image.cmd = commandOf(instruction, where, 'CMD');
      own.cmd = true;
      break;
    case 'ENTRYPOINT': {
      image.entrypoint = commandOf(instruction, where, 'ENTRYPOINT');
      // Docker: an ENTRYPOINT resets a CMD inherited from the base image, not one of its own stage.
      if (!own.cmd) image.cmd = undefined;
      break;
    }
    case 'SHELL': {
      const form = commandOf(instruction, where, 'SHELL');
      if (!('argv' in form) || form.argv.length === 0) throw new DockerfileError(`${where}: SHELL must be a JSON list, e.g. ["/bin/bash", "-c"]`, line);
      image.shell = form.argv;
      break;
    }
    case 'WORKDIR': {
      const raw = instruction.getArgumentsContent()?.trim() ?? '';
      if (raw === '') throw new DockerfileError(`${where}: WORKDIR names no directory`, line);
      image.workdir = path.posix.resolve(image.workdir, expand(dockerfile, raw, line, where));
      break;
    }
    case 'COPY':
    case 'ADD': {
      if (image.contextDir !== undefined) break;
      const flags = instruction instanceof ModifiableInstruction ? instruction.getFlags() : [];
      if (flags.some((flag) => flag.getName().toLowerCase() === 'from')) break;
      const args = instruction.getArguments().map((arg) => arg.getValue());
      const json = jsonList(instruction.getArgumentsContent() ?? '');
      const words = json ?? args;
      if (words.length < 2) break;
      const sources = words.slice(0, -1).map((source) => source.replace(/\/+$/, '') || '/');
      if (sources.some((source) => source === '.' || source === './' || source === '')) {
        const dest = expand(dockerfile, words[words.length - 1]!, line, where);
        image.contextDir = { dir: path.posix.resolve(image.workdir, dest), line };
      }
      break;
    }
    default:
      break;
  }
}

/** CMD/ENTRYPOINT/SHELL: exec form when the arguments are a JSON list of strings (Docker's rule), else shell form. */
function commandOf(instruction: Instruction, where: string, keyword: string): DockerCommand {
  const line = lineOf(instruction);
  const content = (instruction.getArgumentsContent() ?? '').trim();
  const argv = jsonList(content);
  if (argv) return { argv, line };
  if (content.startsWith('[')) {
    // Docker would run `["npm", start]` through the shell, which fails at run time: say so now.
    throw new DockerfileError(
      `${where}: ${keyword} ${excerpt(content)} is not a valid JSON list (each word in double quotes), so Docker would run it as a shell command: write ${keyword} ["word", "word"] or ${keyword} word word`,
      line,
    );
  }
  return { shell: content, line };
}

function jsonList(content: string): string[] | undefined {
  if (!content.trim().startsWith('[')) return undefined;
  try {
    const value: unknown = JSON.parse(content);
    return Array.isArray(value) && value.every((item) => typeof item === 'string') ? value : undefined;
  } catch {
    return undefined;
  }
}

// `$VAR`, `${VAR}`, `${VAR:-word}`, `${VAR:+word}`: the substitutions Docker makes in WORKDIR, COPY …
const VARIABLE = /\$(?:([A-Za-z_][A-Za-z0-9_]*)|\{([A-Za-z_][A-Za-z0-9_]*)(?::([-+])([^}]*))?\})/g;

/** `text` with ARG and ENV variables substituted as of `line`; a variable without a value is an error. */
function expand(dockerfile: ReturnType<typeof DockerfileParser.parse>, text: string, line: number, where: string, depth = 0): string {
  return text.replace(VARIABLE, (_match, plain: string | undefined, braced: string | undefined, op: string | undefined, word: string | undefined) => {
    const name = (plain ?? braced)!;
    const value = dockerfile.resolveVariable(name, line - 1);
    const known = value !== undefined && value !== null;
    if (op === '-') return known && value !== '' ? expandValue(value) : word ?? '';
    if (op === '+') return known && value !== '' ? word ?? '' : '';
    if (!known) throw new DockerfileError(`${where}: \`$${name}\` has no value here (no ARG default or ENV sets it), so the directory is not known`, line);
    return expandValue(value);
  });
  function expandValue(value: string): string {
    return depth < 8 ? expand(dockerfile, value, line, where, depth + 1) : value;
  }
}

function lineOf(instruction: Instruction): number {
  return instruction.getRange().start.line + 1;
}

function excerpt(text: string): string {
  return text.length > 60 ? `${text.slice(0, 59)}…` : text;
}
