// The ES module face of hooksync/receiver: the same objects as require() gives (one
// PageVerificationError class for both).
import kit from './index.js';

export const { verifyPage, PageVerificationError, createReceiver, createFetchHandler, createPageHandler, memoryStore, pgStore } = kit;
export default kit;
