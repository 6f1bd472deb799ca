// Helpers for tests and benchmarks that run real guests (not for production code paths).
export { acquireGuestSlots, describeSlots, SLOT_DIR, SLOT_COUNT, type SlotLease } from './guest-slots.js';
export { ensureTestGuest, guestCmdline, testGuestDir, GUEST_MARKERS, type TestGuest } from './test-guest.js';
export { waitUntil } from '../wait.js';
