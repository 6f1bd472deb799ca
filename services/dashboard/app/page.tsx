import { health, services } from '../lib/services';

// Health is live data: render on every request, never at build time.
export const dynamic = 'force-dynamic';

export default async function Home() {
  const list = services();
  const results = await Promise.all(list.map((s) => health(s)));
  const healthy = results.filter((r) => r.status === 'healthy').length;
  return (
    <>
      <meta httpEquiv="refresh" content="5" />
      <h1>Service health</h1>
      <p className="muted" id="summary">
        {healthy} of {list.length} services healthy · refreshed every 5 s
      </p>
      <table>
        <thead>
          <tr>
            <th>Service</th>
            <th>Endpoint</th>
            <th>Status</th>
            <th>Details</th>
            <th>Latency</th>
          </tr>
        </thead>
        <tbody>
          {list.map((s, i) => (
            <tr key={s.name} data-service={s.name}>
              <td>{s.title}</td>
              <td className="muted">{s.url}</td>
              <td className={results[i]!.status}>{results[i]!.status}</td>
              <td className="muted">{results[i]!.detail}</td>
              <td className="muted">{results[i]!.ms} ms</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
