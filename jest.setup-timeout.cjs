// Per-project default test timeout (see jest.preset.cjs); tests may still pass their own.
jest.setTimeout(globalThis.__KUMO_TEST_TIMEOUT__ ?? 30000);
