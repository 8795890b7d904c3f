// Run one Python script under MicroPython (official WebAssembly port) with the firmware
// packages importable, so that firmware code is exercised by the interpreter it ships on.
//
//   node run.mjs [--heap BYTES] [--path DIR]... [--stdio] SCRIPT [ARG...]
//
// The firmware packages (hal/, pump/, secure_channel/, bootloader/: every *.py, recursively) and
// the top-level *.py files of SCRIPT's directory and of each --path DIR are copied into the
// MicroPython file system at their host paths, so tracebacks name the real files.
// sys.path is [SCRIPT's dir, --path dirs..., repository root, MicroPython defaults...].
// The exit status is that of the script: 0, the code given to sys.exit(), or 1 with the
// MicroPython traceback on stderr for any uncaught exception.
//
// --stdio makes the script a line server: it may import the (empty) module ``hostio`` to
// know it is one, and defines handle_line(text) -> str or None. After the script has run,
// each line of stdin is handed to handle_line and what it returns is written to stdout with
// a newline, until stdin ends or the script's served() returns False (if it defines one). It is the device's UART in the firmware-in-the-loop run
// (tools/board/hil_main.py, docs/hil.md). Calling Python once per line from here, with no
// Python frame on the stack in between, is what lets this port's garbage collector free
// memory: a gc.collect() under a running Python loop frees nothing.
//
// --heap sets the initial MicroPython heap (default 8 MiB; suffixes k and m accepted). This
// port adds heap areas on demand when a collection cannot satisfy an allocation, so the
// figure is the starting heap and GC pressure, not a hard cap: read memory use from
// gc.mem_alloc() or micropython.mem_info() inside the script.

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, "..", "..");
const FIRMWARE = ["hal", "pump", "secure_channel", "bootloader"];
const DEFAULT_HEAP = 8 * 1024 * 1024;
const SKIP_DIRS = new Set(["__pycache__", "node_modules"]);

function usage(message) {
  process.stderr.write(`run.mjs: ${message}\n` +
    "usage: node run.mjs [--heap BYTES] [--path DIR]... SCRIPT [ARG...]\n");
  process.exit(2);
}

function parseHeap(text) {
  const match = /^(\d+)([kKmM]?)$/.exec(text || "");
  if (!match) usage(`bad heap size: ${text}`);
  const unit = { "": 1, k: 1024, m: 1024 * 1024 }[match[2].toLowerCase()];
  return parseInt(match[1], 10) * unit;
}

function parseArgs(argv) {
  const options = { heap: DEFAULT_HEAP, paths: [], script: null, args: [], stdio: false };
  let i = 0;
  for (; i < argv.length; i++) {
    if (argv[i] === "--heap") options.heap = parseHeap(argv[++i]);
    else if (argv[i] === "--stdio") options.stdio = true;
    else if (argv[i] === "--path") options.paths.push(path.resolve(argv[++i] || "."));
    else if (argv[i].startsWith("--")) usage(`unknown option ${argv[i]}`);
    else break;
  }
  if (i >= argv.length) usage("no script given");
  options.script = path.resolve(argv[i]);
  options.args = argv.slice(i + 1);
  if (!fs.existsSync(options.script)) usage(`no such script: ${argv[i]}`);
  for (const dir of options.paths) {
    if (!fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory()) usage(`no such directory: ${dir}`);
  }
  return options;
}

// Copy *.py files from a host directory to the same path in the MicroPython FS.
function copyPython(FS, dir, recursive) {
  FS.mkdirTree(dir);
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const host = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (recursive && !entry.name.startsWith(".") && !SKIP_DIRS.has(entry.name)) {
        copyPython(FS, host, true);
      }
    } else if (entry.name.endsWith(".py")) {
      FS.writeFile(host, fs.readFileSync(host));
    }
  }
}

// Forward MicroPython output a line at a time; process.stdout/stderr writes to pipes and
// files are synchronous on Linux, so a watchdog reading our stdout sees progress even while
// Python code runs (which blocks Node's event loop).
function lineWriter(stream) {
  let pending = [];
  const flush = () => {
    if (pending.length) stream.write(Buffer.from(pending));
    pending = [];
  };
  const write = (bytes) => {
    for (const byte of bytes) {
      pending.push(byte);
      if (byte === 10) flush();
    }
  };
  return { write, flush };
}

// Blocking line input from stdin for a script that must wait for its host (the event loop
// is blocked while Python runs). A non-blocking stdin (EAGAIN) is polled every millisecond.
function stdinLines() {
  const chunk = Buffer.alloc(65536);
  const nap = new Int32Array(new SharedArrayBuffer(4));
  let pending = Buffer.alloc(0);
  let ended = false;
  return function readLine() {
    for (;;) {
      const newline = pending.indexOf(10);
      if (newline >= 0) {
        const line = pending.subarray(0, newline).toString("utf8");
        pending = pending.subarray(newline + 1);
        return line;
      }
      if (ended) {
        const rest = pending.length ? pending.toString("utf8") : null;
        pending = Buffer.alloc(0);
        return rest;
      }
      let n;
      try {
        n = fs.readSync(0, chunk, 0, chunk.length, null);
      } catch (err) {
        if (err.code === "EAGAIN") { Atomics.wait(nap, 0, 0, 1); continue; }
        if (err.code === "EOF") { ended = true; continue; }
        throw err;
      }
      if (n === 0) ended = true;
      else pending = Buffer.concat([pending, chunk.subarray(0, n)]);
    }
  };
}

// Hand each line of stdin to the script's handle_line; write back what it returns.
function serveLines(mp, stdout) {
  mp.runPython("_handle_line = _main_globals['handle_line']\n" +
                "_serving = _main_globals.get('serving', lambda: True)");
  const handle = mp.globals.get("_handle_line");
  const serving = mp.globals.get("_serving");
  const readLine = stdinLines();
  for (let line = readLine(); line !== null; line = readLine()) {
    const answer = handle(line);
    if (answer !== undefined && answer !== null) {
      stdout.flush();
      fs.writeSync(1, `${answer}\n`);
    }
    if (!serving()) break;
  }
}

// Python that runs SCRIPT as __main__ and hands the SystemExit code back to JavaScript;
// any other exception propagates out of runPython with its MicroPython traceback.
function bootstrap(options) {
  const py = JSON.stringify;  // JSON string and list literals are valid Python literals
  const scriptDir = path.dirname(options.script);
  return `
import sys
sys.path[:0] = ${py([scriptDir, ...options.paths, REPO])}
sys.argv[:] = ${py([options.script, ...options.args])}

_main_globals = {"__name__": "__main__", "__file__": ${py(options.script)}}

def _run_main(path):
    with open(path) as f:
        code = compile(f.read(), path, "exec")
    try:
        exec(code, _main_globals)
    except SystemExit as exc:
        return exc.args[0] if exc.args else None
    return None

_exit_status = _run_main(${py(options.script)})
`;
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  let loadMicroPython;
  try {
    ({ loadMicroPython } = await import("@micropython/micropython-webassembly-pyscript"));
  } catch (err) {
    process.stderr.write("MicroPython runner not installed (tools/micropython/node_modules): run `make test`\n");
    return 2;
  }
  const stdout = lineWriter(process.stdout);
  const stderr = lineWriter(process.stderr);
  const mp = await loadMicroPython({
    heapsize: options.heap, linebuffer: false, stdout: stdout.write, stderr: stderr.write,
  });

  if (options.stdio) {
    mp.registerJsModule("hostio", {});
  }
  for (const name of FIRMWARE) {
    const dir = path.join(REPO, name);
    if (fs.existsSync(dir)) copyPython(mp.FS, dir, true);
  }
  for (const dir of [path.dirname(options.script), ...options.paths]) copyPython(mp.FS, dir, false);
  mp.FS.writeFile(options.script, fs.readFileSync(options.script));

  let status;
  try {
    mp.runPython(bootstrap(options));
    status = mp.globals.get("_exit_status");
    if (options.stdio && (status === undefined || status === null)) serveLines(mp, stdout);
  } catch (err) {
    stdout.flush();
    stderr.flush();
    // A PythonError's message is the MicroPython traceback; anything else is a runner fault.
    process.stderr.write(err && err.name === "PythonError" ? err.message : `${err && err.stack || err}\n`);
    return 1;
  }
  stdout.flush();
  stderr.flush();
  if (status === undefined || status === null) return 0;
  if (Number.isInteger(status)) return status;
  process.stderr.write(`${status}\n`);  // sys.exit("message"), as CPython does
  return 1;
}

process.exitCode = await main();
