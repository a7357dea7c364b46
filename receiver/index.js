'use strict';
// hooksync/receiver: what an endpoint that receives HTTP Sync pages needs (verify, de-duplicate,
// process each page once). It loads `standardwebhooks` and Node built-ins only: no Temporal, no
// Koa, no database driver (pgStore uses the pool you pass).
const { PageVerificationError } = require('./errors');
const { verifyPage } = require('./verify');
const { createPageHandler } = require('./page-handler');
const { createReceiver } = require('./node');
const { createFetchHandler } = require('./fetch');
const { memoryStore } = require('./memory-store');
const { pgStore } = require('./pg-store');

module.exports = { verifyPage, PageVerificationError, createReceiver, createFetchHandler, createPageHandler, memoryStore, pgStore };
