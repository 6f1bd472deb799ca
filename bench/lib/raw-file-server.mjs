// Baseline for ./kumo bench image: the least an HTTP server can do with image data. PUT streams
// the body into a file (fsync, no hashing, no checks), GET streams the file back. Prints its port.
import fs from 'node:fs';
import http from 'node:http';
import { pipeline } from 'node:stream/promises';

const file = process.argv[2];
const server = http.createServer(async (req, res) => {
  try {
    if (req.method === 'PUT') {
      await pipeline(req, fs.createWriteStream(file, { flush: true, highWaterMark: 1 << 20 }));
      res.writeHead(204).end();
    } else {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': fs.statSync(file).size });
      await pipeline(fs.createReadStream(file, { highWaterMark: 1 << 20 }), res);
    }
  } catch (err) {
    res.destroy(err);
  }
});
server.requestTimeout = 0;
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
