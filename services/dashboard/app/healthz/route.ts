export const dynamic = 'force-dynamic';

/** Liveness of the dashboard itself (./kumo status and up poll it). */
export function GET() {
  return Response.json({ status: 'ok' });
}
