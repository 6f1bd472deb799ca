// ./kumo bench amqp — RPC round trip between two services over RabbitMQ, Kumo's transport
// (envelope, contract version check, NestJS dispatch, metrics, manual ack) against the least a
// raw amqplib RPC can do, on the same broker, in the same run.
//   Kumo:     this process (an AmqpRpcTransport, as any service holds) -> identity.ping in the
//             running identity service process
//   baseline: raw amqplib client -> raw amqplib echo server in a child process
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import amqplib from 'amqplib';
import { AmqpConnection, AmqpRpcTransport } from '@kumo/service-kit';
import { gain, printTable, requireEnv, speedup, summarize } from './lib/report.mjs';

requireEnv('KUMO_AMQP_URL');
const url = process.env.KUMO_AMQP_URL;
const SERIAL = Number(process.env.BENCH_SERIAL ?? 2000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const here = dirname(fileURLToPath(import.meta.url));

async function measure(call) {
  for (let i = 0; i < 200; i++) await call(); // warm-up: JIT, connections, caches
  const samples = [];
  for (let i = 0; i < SERIAL; i++) {
    const t = process.hrtime.bigint();
    await call();
    samples.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  let done = 0;
  const end = Date.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (Date.now() < end) {
        await call();
        done++;
      }
    }),
  );
  return { ...summarize(samples), rate: done / SECONDS };
}

async function rawBaseline() {
  const queue = `bench.raw.${process.pid}`;
  const server = spawn(process.execPath, [join(here, 'lib', 'raw-echo-server.mjs'), url, queue], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    server.stdout.once('data', resolve);
    server.once('exit', (code) => reject(new Error(`raw echo server exited with ${code}`)));
  });
  const conn = await amqplib.connect(url, { noDelay: true });
  const ch = await conn.createChannel();
  const pending = new Map();
  await ch.consume('amq.rabbitmq.reply-to', (msg) => {
    const p = pending.get(msg.properties.correlationId);
    pending.delete(msg.properties.correlationId);
    p?.(JSON.parse(msg.content.toString()));
  }, { noAck: true });
  const call = () =>
    new Promise((resolve) => {
      const id = randomUUID();
      pending.set(id, resolve);
      ch.sendToQueue(queue, Buffer.from(JSON.stringify({ nonce: id })), { correlationId: id, replyTo: 'amq.rabbitmq.reply-to' });
    });
  try {
    return await measure(call);
  } finally {
    await conn.close();
    server.kill('SIGTERM');
  }
}

async function kumo() {
  const connection = new AmqpConnection({ url, name: 'kumo-bench', heartbeatSeconds: 10, reconnectSeconds: 1 }).connect();
  const transport = new AmqpRpcTransport(connection, 'bench', 5000);
  const identity = transport.client('identity');
  try {
    await identity.call('ping', { nonce: 'hello' }, { timeoutMs: 10000 });
  } catch (err) {
    console.error(`identity does not answer identity.ping (${err.message}); is the stack up? (./kumo status)`);
    process.exit(1);
  }
  try {
    return await measure(() => identity.call('ping', { nonce: randomUUID() }));
  } finally {
    await transport.close();
    await connection.close();
  }
}

const raw = await rawBaseline();
const k = await kumo();
printTable({
  title: `AMQP RPC round trip (${SERIAL} serial calls, then ${CONCURRENCY} concurrent callers for ${SECONDS} s)`,
  columns: ['metric', 'raw amqplib (baseline)', 'Kumo RPC (service → identity)', 'Kumo vs baseline'],
  rows: [
    ['p50 latency (ms)', raw.p50, k.p50, speedup(raw.p50, k.p50)],
    ['p99 latency (ms)', raw.p99, k.p99, speedup(raw.p99, k.p99)],
    ['messages/s', raw.rate, k.rate, gain(raw.rate, k.rate)],
  ],
  notes: [`Same broker (${url.replace(/:[^:@/]*@/, ':***@')}), same machine, same run. Ratios below 1× are Kumo's overhead.`],
});
