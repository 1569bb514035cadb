/** The dashboard: apps, one app, agents; everything live (docs/dashboard.md). */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { post, whenLoggedOut } from './api';
import { Link } from './components/link';
import { Notices } from './components/notices';
import { usePath } from './router';
import { AppsPage } from './pages/apps-page';
import { AppPage } from './pages/app-page';
import { AgentsPage } from './pages/agents-page';

function Page(props: { path: string }) {
  const app = /^\/apps\/([^/]+)\/?$/.exec(props.path);
  if (app) return <AppPage app={decodeURIComponent(app[1]!)} />;
  if (/^\/agents\/?$/.test(props.path)) return <AgentsPage />;
  return <AppsPage />;
}

function Dashboard() {
  const path = usePath();
  const [loggedOut, setLoggedOut] = useState<string | undefined>();
  useEffect(() => whenLoggedOut(setLoggedOut), []);
  useEffect(() => {
    const app = /^\/apps\/([^/]+)/.exec(path);
    document.title = app ? `${decodeURIComponent(app[1]!)} · cluster` : path.startsWith('/agents') ? 'Agents · cluster' : 'Apps · cluster';
  }, [path]);
  const logOut = () => {
    void post('/api/logout', {}).finally(() => setLoggedOut('You have logged out.'));
  };
  if (loggedOut) {
    return (
      <main class="login-needed">
        <h1>cluster</h1>
        <p>{loggedOut}</p>
        <p>Run <code>cluster dashboard</code> for a new login link.</p>
      </main>
    );
  }
  return (
    <>
      <a class="skip" href="#main">Skip to content</a>
      <header class="top">
        <Link href="/" class="brand">cluster</Link>
        <nav aria-label="Sections">
          <Link href="/" current={path === '/' || path.startsWith('/apps')}>Apps</Link>
          <Link href="/agents" current={path.startsWith('/agents')}>Agents</Link>
        </nav>
        <button type="button" class="quiet logout" onClick={logOut}>Log out</button>
      </header>
      <Notices />
      <main id="main" tabIndex={-1}>
        <Page path={path} />
      </main>
    </>
  );
}

render(<Dashboard />, document.getElementById('root')!);
