/** Loaded with `node -r`: prints the process's CPU time (µs, user + system) on stderr at exit (bench/logs-client.ts). */
process.on('exit', () => {
  const u = process.cpuUsage();
  process.stderr.write(`cpu-at-exit ${u.user + u.system}\n`);
});
