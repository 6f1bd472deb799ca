import { type ChildProcess } from 'node:child_process';
import { AmqpConnection, AmqpRpcTransport } from '../src/index.js';
/** Starts the fixture service in a child process (so it can die like a real crash). */
export declare function spawnFixture(env: Record<string, string>, args?: string[]): ChildProcess & {
    output: () => string;
};
export declare function exited(child: ChildProcess): Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
}>;
/** A bare RPC client, as another service would hold one. */
export declare function testClient(url: string, name?: string): {
    connection: AmqpConnection;
    transport: AmqpRpcTransport;
    close(): Promise<void>;
};
