// Baseline peer for bench/amqp.mjs: the least an AMQP RPC server can do with plain amqplib —
// consume, parse JSON, reply to replyTo with the correlation id, ack.
import amqplib from 'amqplib';

const [url, queue] = process.argv.slice(2);
const conn = await amqplib.connect(url, { noDelay: true });
const ch = await conn.createChannel();
await ch.assertQueue(queue, { durable: false, autoDelete: true });
await ch.prefetch(16);
await ch.consume(queue, (msg) => {
  const req = JSON.parse(msg.content.toString());
  ch.sendToQueue(msg.properties.replyTo, Buffer.from(JSON.stringify({ ok: true, data: { nonce: req.nonce, pid: process.pid } })), { correlationId: msg.properties.correlationId });
  ch.ack(msg);
});
process.stdout.write('ready\n');
process.on('SIGTERM', async () => {
  await conn.close().catch(() => undefined);
  process.exit(0);
});
