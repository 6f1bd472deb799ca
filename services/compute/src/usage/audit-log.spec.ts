import { lastCompletedMonth, parseAuditTimestamp } from './audit-log.service.js';

const period = (iso: string) => {
  const { begin, end } = lastCompletedMonth(new Date(iso));
  return [begin.toISOString(), end.toISOString()];
};

describe('instance usage audit periods (Nova last_completed_audit_period, unit month)', () => {
  it('is the last whole month that ended strictly before the time', () => {
    expect(period('2026-11-27T21:30:00Z')).toEqual(['2026-10-01T00:00:00.000Z', '2026-11-01T00:00:00.000Z']);
    // Exactly at a month's start that month has not completed yet.
    expect(period('2026-11-01T00:00:00Z')).toEqual(['2026-09-01T00:00:00.000Z', '2026-10-01T00:00:00.000Z']);
    expect(period('2026-11-01T00:00:00.001Z')).toEqual(['2026-10-01T00:00:00.000Z', '2026-11-01T00:00:00.000Z']);
    // Across the year: January → December of the year before, and on January 1st → November.
    expect(period('2026-01-15T00:00:00Z')).toEqual(['2025-12-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z']);
    expect(period('2026-01-01T00:00:00Z')).toEqual(['2025-11-01T00:00:00.000Z', '2025-12-01T00:00:00.000Z']);
    expect(period('2026-02-01T00:00:00Z')).toEqual(['2025-12-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z']);
  });

  it('parses the timestamps strptime accepts and nothing else', () => {
    expect(parseAuditTimestamp('2026-03-15 10:20:30')?.toISOString()).toBe('2026-03-15T10:20:30.000Z');
    expect(parseAuditTimestamp('2026-3-5 1:2:3')?.toISOString()).toBe('2026-03-05T01:02:03.000Z');
    expect(parseAuditTimestamp('2026-03-15 10:20:30.123456')?.toISOString()).toBe('2026-03-15T10:20:30.123Z');
    expect(parseAuditTimestamp('2028-02-29 00:00:00')?.toISOString()).toBe('2028-02-29T00:00:00.000Z');
    for (const bad of ['2026-02-29 00:00:00', '2026-13-01 00:00:00', '2026-03-01 24:00:00', '2026-03-01 00:60:00', '2026-03-01', '2026-03-01T00:00:00', '2026-03-01 00:00:00.', '2026-03-01 00:00:00.1234567', ' 2026-03-01 00:00:00', 'invalid_time']) {
      expect([bad, parseAuditTimestamp(bad)]).toEqual([bad, undefined]);
    }
  });
});
