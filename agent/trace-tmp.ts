if (process.env.CLUSTER_TRACE) {
  (globalThis as any).__trace = (label: string, n?: number) => process.stderr.write(`TRACE ${Date.now()} ${label} ${n ?? ''}\n`);
}
