/**
 * The console page the node proxy serves as `vnc_lite.html`: Kumo's small page around noVNC's RFB
 * client (`core/rfb.js` of @novnc/novnc, served next to it), with the query of noVNC's own
 * vnc_lite.html: `path` (websocket path and query, e.g. `?token=…`), `host`, `port`, `encrypt`,
 * `password`, `scale`, `view_only`, `shared`.
 */
export const VNC_LITE_HTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>noVNC</title>
<style>
  html, body { margin: 0; height: 100%; background: #282828; color: #eee; font: 14px system-ui, sans-serif; display: flex; flex-direction: column; }
  #bar { display: flex; gap: 1em; align-items: center; padding: 4px 10px; background: #3a5a8c; border-bottom: 1px solid #1d2d46; }
  #status { flex: 1; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
  #screen { flex: 1; overflow: hidden; }
  button { font: inherit; }
</style>
</head>
<body>
<div id="bar"><span id="status">Loading the noVNC client…</span><button id="cad" disabled>Send Ctrl+Alt+Del</button></div>
<div id="screen"></div>
<script type="module">
  const status = (text) => { document.getElementById('status').textContent = text; };
  const q = new URLSearchParams(window.location.search);
  let RFB;
  try {
    RFB = (await import('./core/rfb.js')).default;
  } catch (err) {
    status('The noVNC client could not be loaded from this console proxy: ' + err.message);
    throw err;
  }
  const secure = q.has('encrypt') ? q.get('encrypt') === '1' || q.get('encrypt') === 'true' : window.location.protocol === 'https:';
  const host = q.get('host') || window.location.hostname;
  const port = q.get('port') || window.location.port;
  const path = (q.get('path') ?? (q.get('token') ? '?token=' + encodeURIComponent(q.get('token')) : 'websockify')).replace(/^\\//, '');
  const url = (secure ? 'wss' : 'ws') + '://' + (host.includes(':') ? '[' + host + ']' : host) + (port ? ':' + port : '') + '/' + path;
  status('Connecting…');
  let desktop = '';
  const rfb = new RFB(document.getElementById('screen'), url, {
    shared: q.get('shared') !== 'false',
    credentials: { password: q.get('password') ?? '' },
    wsProtocols: ['binary'],
  });
  rfb.viewOnly = q.get('view_only') === 'true';
  rfb.scaleViewport = q.get('scale') !== 'false';
  rfb.addEventListener('connect', () => {
    status('Connected' + (desktop ? ' to ' + desktop : '') + ' (noVNC)');
    document.getElementById('cad').disabled = false;
  });
  rfb.addEventListener('disconnect', (e) => {
    document.getElementById('cad').disabled = true;
    status(e.detail.clean ? 'Disconnected. Reload the page to reconnect while the console URL is valid.' : 'Could not connect or the connection was lost: the console URL may have expired, or its server was stopped, moved or deleted. Ask for a new console URL.');
  });
  rfb.addEventListener('credentialsrequired', () => {
    const password = window.prompt('Password required:');
    rfb.sendCredentials({ password: password ?? '' });
  });
  rfb.addEventListener('desktopname', (e) => {
    desktop = e.detail.name;
    document.title = desktop + ' - noVNC';
  });
  document.getElementById('cad').onclick = () => rfb.sendCtrlAltDel();
</script>
</body>
</html>
`;
