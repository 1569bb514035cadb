/** The environment of an instance: the app's config plus the variables the platform promises. */

// From the agent's own environment only what a program needs to run at all; everything
// else (the agent's secrets, its CLUSTER_* settings) stays out of app processes.
const INHERITED = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'USER', 'SHELL'];

/** Which instance the environment is for. */
export interface InstanceIdentity {
  app: string;
  instance: string;
  release: number;
}

/** The agent an instance runs under: its id, and its data dir (absolute). */
export interface AgentHost {
  agentId: string;
  agentDir: string;
}

/** `config` is the release's config vars (see releases/release-config.ts). */
export function buildEnv(spec: InstanceIdentity, config: Record<string, string>, port: number, host: AgentHost): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of INHERITED) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  env.PATH ??= '/usr/local/bin:/usr/bin:/bin';
  Object.assign(env, config);
  // Identity variables last: config cannot override them.
  env.PORT = String(port);
  env.CLUSTER_APP = spec.app;
  env.CLUSTER_INSTANCE = spec.instance;
  env.CLUSTER_RELEASE = `v${spec.release}`;
  env.CLUSTER_HOST = host.agentId;
  // Which agent's process this is, exactly: two agents on one machine may share an id (two
  // clusters, a test next to a real one), and a starting agent stops only its own leftovers.
  env.CLUSTER_AGENT_DIR = host.agentDir;
  env.DYNO = spec.instance;
  return env;
}
